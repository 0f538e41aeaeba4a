export * from './config';
export * from './errors';
export * from './http';
export * from './db';
export * from './crypto';
export * from './logger';
export * from './auth';
export * from './service';
