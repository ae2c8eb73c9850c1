// Checks of corews/redis's options: each wrong one throws a TypeError or RangeError naming it.
import { describe } from '../options';

export function checkObject(value: unknown, caller: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw new TypeError(`${caller}: options must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

export function checkUrl(value: unknown, caller: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^rediss?:\/\//.test(value)) {
    throw new TypeError(`${caller}: options.url must be a redis:// or rediss:// URL string, got ${describe(value)}`);
  }
  return value;
}

export function checkBoolean(value: unknown, name: string, caller: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${caller}: options.${name} must be a boolean, got ${describe(value)}`);
  return value;
}

export function checkString(value: unknown, name: string, caller: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new TypeError(`${caller}: options.${name} must be a string, got ${describe(value)}`);
  return value;
}

export function checkInteger(value: unknown, name: string, caller: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${caller}: options.${name} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${caller}: options.${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}
