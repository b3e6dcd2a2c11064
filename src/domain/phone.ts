/**
 * Phone numbers as Metrica wants them: `+` and digits, Russian numbers in `+7` form.
 */

/** Characters a written phone number may hold besides digits and one leading `+`. */
const SEPARATORS = /[\s\-().]/g;
const DIGITS_ONLY = /^\d+$/;

/**
 * `+` and digits, or '' when `raw` holds no usable number.
 * - written with `+`: the country code is the one written (`+81312345678` stays Japanese) → `+digits`;
 * - without `+`, the Russian forms: `8XXXXXXXXXX` (11 digits) → `+7XXXXXXXXXX`; `7XXXXXXXXXX` → `+7XXXXXXXXXX`;
 *   `9XXXXXXXXX` (10 digits, a Russian mobile without its country code) → `+79XXXXXXXXX`;
 * - any other number → `+digits` as given.
 * Spaces, dashes, dots, parentheses and one leading `+` are accepted; any other character
 * (letters, a second `+`, an extension marker) makes the whole value garbage → ''.
 */
export function normalisePhone(raw: unknown): string {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) text = String(raw);
  else return '';
  text = text.trim();
  const international = text.startsWith('+');
  if (international) text = text.slice(1);
  const digits = text.replace(SEPARATORS, '');
  if (!DIGITS_ONLY.test(digits)) return '';
  if (international) return `+${digits}`;
  // Stryker disable next-line ConditionalExpression,StringLiteral: an 11-digit 7... number not taken here gets +${digits} below: the same text
  if (digits.length === 11 && (digits[0] === '8' || digits[0] === '7')) return `+7${digits.slice(1)}`;
  if (digits.length === 10 && digits[0] === '9') return `+7${digits}`;
  return `+${digits}`;
}
