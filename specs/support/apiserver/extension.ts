/**
 * Requests the stand-in answers outside its store: the review APIs (review.ts) and the
 * subresources kube-apiserver proxies to a kubelet (proxy.ts). The server (server.ts) offers each
 * authenticated and authorized request to them, in order, before its resource routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity, RequestInfo } from './auth.ts';

export interface ExtensionRequest {
  info: RequestInfo;
  query: URLSearchParams;
  /** The decoded body (JSON or YAML), if any. */
  body: unknown;
  id: Identity;
  req: IncomingMessage;
  res: ServerResponse;
  /** Answers with a JSON body (recorded in the request log). */
  send(code: number, body: unknown): void;
  /** Records the status of an answer written directly on `res` (a proxied stream). */
  done(code: number): void;
}

/** Answers the request and returns true, or returns false to leave it to the next. */
export type Extension = (x: ExtensionRequest) => boolean | Promise<boolean>;
