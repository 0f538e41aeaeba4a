/** `node --import tsx bench/src/scale/rewrite.ts <result.json>`: writes the .md of a scale result again from its JSON. */
import { readFile, writeFile } from 'node:fs/promises';
import { scaleMarkdown } from './report';
import type { ScaleReport } from './run';

const file = process.argv[2];
if (!file?.endsWith('.json')) throw new Error('usage: rewrite.ts <bench/results/…-scale….json>');
const report = JSON.parse(await readFile(file, 'utf8')) as ScaleReport;
await writeFile(file.replace(/\.json$/, '.md'), scaleMarkdown(report));
