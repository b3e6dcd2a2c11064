/**
 * Does a counter take a call, and if not, the first setting that stopped it.
 */
import { domainToASCII } from 'node:url';
import type { Call, CounterSettings, Decision } from './types.js';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//;
const PORT = /:\d*$/;
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The host part of a site as CallKeeper or the user writes it, for comparing:
 * lower case, no scheme, user, path, query, fragment, port, trailing dot or leading `www.`;
 * internationalised names in their punycode form (`сайт.рф` = `xn--80aswg.xn--p1ai`).
 * Accepts bare hosts (`Shop.Example`) and full URLs (`https://www.shop.example:443/a?b`); '' for empty.
 */
export function normaliseHost(s: string): string {
  let host = s.trim().toLowerCase();
  // Stryker disable next-line ConditionalExpression,StringLiteral: a shortcut; the rest also turns '' into ''
  if (host === '') return '';
  const scheme = SCHEME.exec(host);
  if (scheme) host = host.slice(scheme[0].length);
  else if (host.startsWith('//')) host = host.slice(2);
  const end = host.search(/[/?#\\]/);
  if (end >= 0) host = host.slice(0, end);
  const at = host.lastIndexOf('@');
  // Stryker disable next-line ConditionalExpression: with no @ (at = -1) slice(0) is the same text
  if (at >= 0) host = host.slice(at + 1);
  host = host.replace(PORT, '');
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.startsWith('www.')) host = host.slice(4);
  if (NON_ASCII.test(host)) host = domainToASCII(host) || host;
  return host;
}

/** Normalised counter sites, computed once per `sites` array. */
const counterSites = new WeakMap<readonly string[], ReadonlySet<string>>();

function sitesOf(counter: CounterSettings): ReadonlySet<string> {
  let set = counterSites.get(counter.sites);
  // Stryker disable next-line ConditionalExpression: a cache: rebuilt each time it is the same set
  if (!set) {
    set = new Set(counter.sites.map(normaliseHost).filter((host) => host !== ''));
    counterSites.set(counter.sites, set);
  }
  return set;
}

/** Call sites repeat a lot: remember their hosts (bounded). */
const callHosts = new Map<string, string>();

function hostOf(site: string): string {
  // Stryker disable next-line ConditionalExpression,StringLiteral: a shortcut (normaliseHost('') is ''); no counter site is a mutant text
  if (site === '') return '';
  let host = callHosts.get(site);
  // Stryker disable next-line ConditionalExpression: a cache: always missing it gives the same host
  if (host === undefined) {
    host = normaliseHost(site);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: when the bounded cache is cleared: memory only
    if (callHosts.size >= 10_000) callHosts.clear();
    callHosts.set(site, host);
  }
  return host;
}

function callTypeFits(call: Call, counter: CounterSettings): boolean {
  switch (counter.callType) {
    case 'callback':
      return call.serviceType === 'callback';
    case 'incoming':
      return call.serviceType === 'calltracking';
    default:
      return true;
  }
}

function statusFits(call: Call, counter: CounterSettings): boolean {
  switch (counter.status) {
    case 'successful':
      return call.status === 'success';
    case 'unsuccessful':
      return call.status === 'fail';
    default:
      return true;
  }
}

function uniquenessFits(call: Call, counter: CounterSettings): boolean {
  switch (counter.uniqueness) {
    case 'unique':
      return call.unique;
    case 'target':
      return call.target;
    case 'unique-target':
      return call.uniqueTarget;
    default:
      return true;
  }
}

function siteFits(call: Call, counter: CounterSettings): boolean {
  const sites = sitesOf(counter);
  if (sites.size === 0) return true;
  const site = hostOf(call.site);
  // Stryker disable next-line ConditionalExpression,StringLiteral: a counter's set never holds '' (sitesOf filters it)
  if (site !== '' && sites.has(site)) return true;
  const visited = hostOf(call.siteVisit);
  // Stryker disable next-line ConditionalExpression,StringLiteral: a counter's set never holds '' (sitesOf filters it)
  return visited !== '' && sites.has(visited);
}

/**
 * Whether `counter` takes `call`. Settings are checked in this order and the first that fails is the
 * reason: call type, minimum duration, status, uniqueness, site. Tags never filter.
 */
export function decide(call: Call, counter: CounterSettings): Decision {
  if (!callTypeFits(call, counter)) return { take: false, reason: 'call-type' };
  if (call.duration < counter.minDuration) return { take: false, reason: 'min-duration' };
  if (!statusFits(call, counter)) return { take: false, reason: 'status' };
  if (!uniquenessFits(call, counter)) return { take: false, reason: 'uniqueness' };
  if (!siteFits(call, counter)) return { take: false, reason: 'site' };
  return { take: true };
}
