import { measureRls } from './inprocess';
console.log(await measureRls(process.env.DATABASE_URL));
console.log(await measureRls(undefined));
