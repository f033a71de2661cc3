import { createRequire } from 'node:module';
import type * as NodeHttp from 'node:http';

/**
 * node:http, loaded through require(). An ES import of node:http builds the module namespace by reading every export,
 * and three of them (WebSocket, CloseEvent, MessageEvent) are lazy getters that load Node's bundled undici: about
 * 6 MB of RSS in every Sigil process for classes it never uses (docs/benchmarks.md, Footprint). require() leaves the
 * getters unread. Import the types from node:http as usual (`import type` is erased); take the values from here.
 */
export const nodeHttp = createRequire(import.meta.url)('node:http') as typeof NodeHttp;
