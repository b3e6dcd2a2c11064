/**
 * How a call becomes a CSV row: upload_calls rows and goal-conversion rows (spec: "One call → one CSV row").
 */
import { CALL_COLUMNS, CONVERSION_COLUMNS, PRICE_COLUMNS } from './types.js';
import type { Call, CounterSettings, DeliveryKind, IdentifierType, Row } from './types.js';
import { ID_COLUMN, identifierOf, type Identifier } from './identifiers.js';

function hasPrice(counter: CounterSettings): boolean {
  return counter.price !== null;
}

/** True when the counter sends offline goal conversions (a non-blank goal identifier). */
export function hasGoal(counter: CounterSettings): boolean {
  return counter.goal.trim() !== '';
}

/** What a counter delivers: its calls always; goal conversions too when it has a goal. */
export function deliveryKinds(counter: CounterSettings): DeliveryKind[] {
  return hasGoal(counter) ? ['call', 'conversion'] : ['call'];
}

/**
 * A number as Metrica's decimal: `.` as the separator, no thousands separators, never an exponent
 * (`1e-7` → `0.0000001`, `1e21` → `1000000000000000000000`). Non-finite numbers → ''.
 */
export function formatDecimal(n: number): string {
  if (!Number.isFinite(n)) return '';
  // Stryker disable next-line ConditionalExpression,UnaryOperator: String(-0) is '0' already
  if (Object.is(n, -0)) return '0';
  const s = String(n);
  // Stryker disable next-line Regex: String(n) has one exponent, at its end: matched whole either way
  const exp = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!exp) return s;
  // Stryker disable next-line StringLiteral: the group (-?) always takes part: never undefined
  const sign = exp[1] ?? '';
  // Stryker disable next-line StringLiteral: the group (\d) always takes part (an absent fraction, exp[3], is tested)
  const digits = `${exp[2] ?? ''}${exp[3] ?? ''}`;
  const point = 1 + Number(exp[4]);
  // Stryker disable next-line EqualityOperator: an exponent form has point >= 22 or <= -6: never 0
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: an exponent form has point >= 22 or <= -6: never inside the digits
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  // Stryker disable next-line MethodExpression,StringLiteral: unreachable, an exponent form has point >= 22 or <= -6 (see above)
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function priceCells(counter: CounterSettings): string[] {
  return counter.price === null ? [] : [formatDecimal(counter.price), counter.currency];
}

/** The columns with the identifier column named for `idType` (the first column: `ClientId` or `Yclid`). */
function withIdColumn(columns: readonly string[], idType: IdentifierType): string[] {
  return [ID_COLUMN[idType], ...columns.slice(1)];
}

/** Header of a counter's upload_calls CSV whose rows carry `idType`. */
export function callHeader(counter: CounterSettings, idType: IdentifierType = 'clientId'): string[] {
  return withIdColumn(hasPrice(counter) ? [...CALL_COLUMNS, ...PRICE_COLUMNS] : CALL_COLUMNS, idType);
}

/** Header of a counter's goal-conversion CSV whose rows carry `idType`. */
export function conversionHeader(counter: CounterSettings, idType: IdentifierType = 'clientId'): string[] {
  return withIdColumn(hasPrice(counter) ? [...CONVERSION_COLUMNS, ...PRICE_COLUMNS] : CONVERSION_COLUMNS, idType);
}

/** The CSV header of a counter's batch of `kind` whose rows carry `idType`: one identifier type per file. */
export function headerOf(counter: CounterSettings, kind: DeliveryKind, idType: IdentifierType = 'clientId'): string[] {
  return kind === 'call' ? callHeader(counter, idType) : conversionHeader(counter, idType);
}

/** The identifier types a counter's batches of `kind` may have: calls always have the ClientId file (static calls go there). */
export function idTypesOf(counter: CounterSettings, kind: DeliveryKind): IdentifierType[] {
  const types = new Set<IdentifierType>(kind === 'call' ? ['clientId'] : []);
  for (const t of counter.identifiers) types.add(t);
  return [...types];
}

/**
 * A row fitted to the header of the batch it goes out in. Rows are decided when their call is fetched; one left
 * pending by an earlier run (and not fetched again since) may carry the price setting of then, while the batch's
 * header is the counter's of now. Price and Currency are always the counter's, never the call's, and always the last
 * two columns: a row without them gets the counter's current ones, a row with them where the header has none loses
 * them. Every other cell stays as it was decided.
 */
export function fitRow(row: Row, header: readonly string[], counter: CounterSettings): Row {
  const width = header.length;
  if (row.length === width) return row;
  // Stryker disable next-line EqualityOperator: a row exactly as wide has returned on the line before
  if (row.length > width) return row.slice(0, width);
  const added = header.slice(row.length).map((column) =>
    column === 'Price' && counter.price !== null ? formatDecimal(counter.price) : column === 'Currency' ? counter.currency : '',
  );
  return [...row, ...added];
}

/** Lower-cased, trimmed `include` tags, computed once per `include` array. */
const includeSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function includeOf(counter: CounterSettings): ReadonlySet<string> {
  let set = includeSets.get(counter.tags.include);
  // Stryker disable next-line ConditionalExpression: a cache: rebuilt each time it is the same set
  if (!set) {
    set = new Set(counter.tags.include.map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
    includeSets.set(counter.tags.include, set);
  }
  return set;
}

/**
 * The `Tag` column. A fixed text for the call's type wins (`tags.callback` for callbacks,
 * `tags.incoming` for call-tracking calls); else `source: 'none'` → ''; else the call's own tags —
 * only those in `include` (trimmed, case-insensitive) when it is non-empty — deduplicated, in their
 * original order, joined with `, `.
 */
export function tagText(call: Call, counter: CounterSettings): string {
  const { tags } = counter;
  if (call.serviceType === 'callback' && tags.callback.trim() !== '') return tags.callback.trim();
  if (call.serviceType === 'calltracking' && tags.incoming.trim() !== '') return tags.incoming.trim();
  // Stryker disable next-line ConditionalExpression: a shortcut: the loop over no tags gives '' too
  if (tags.source === 'none' || call.tags.length === 0) return '';
  const include = includeOf(counter);
  const seen = new Set<string>();
  for (const raw of call.tags) {
    const tag = raw.trim();
    if (tag === '' || seen.has(tag)) continue;
    if (include.size > 0 && !include.has(tag.toLowerCase())) continue;
    seen.add(tag);
  }
  return [...seen].join(', ');
}

/**
 * One upload_calls row, in `callHeader(counter, idType)` order, where `idType` is the identifier's type (ClientId
 * when it has none: a static call, with an empty ClientId and StaticCall 1).
 */
export function callRow(call: Call, counter: CounterSettings, identifier: Identifier | null = identifierOf(call, counter.identifiers)): Row {
  const row: Row = [
    identifier?.value ?? '',
    String(call.callTime),
    identifier ? '0' : '1',
    call.phone,
    String(call.duration),
    call.status === 'fail' ? '1' : '0',
    call.unique ? '1' : '0',
    tagText(call, counter),
    call.callPage !== '' ? call.callPage : call.entryPoint,
    call.recordUrl,
  ];
  // Stryker disable next-line ConditionalExpression: priceCells is [] without a price
  if (hasPrice(counter)) row.push(...priceCells(counter));
  return row;
}

/**
 * One goal-conversion row, in `conversionHeader(counter, identifier.type)` order; null when the counter has no goal
 * or the call no identifier (Metrica drops such a row without a word: it is never sent).
 */
export function conversionRow(call: Call, counter: CounterSettings, identifier: Identifier | null = identifierOf(call, counter.identifiers)): Row | null {
  if (!hasGoal(counter) || identifier === null) return null;
  return [identifier.value, counter.goal.trim(), String(call.callTime), ...priceCells(counter)];
}
