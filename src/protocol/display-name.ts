/**
 * What a display name may hold. Names travel to other people's screens and to the admin's terminal
 * (`confctl lobby list`, `rooms`, `record list`): a control character there is a command (ESC sequences
 * retitle the window, erase a row and print a forged one; CR overwrites the line) and a bidi override
 * reorders the text around it, so a guest could pass for someone else while a host decides whom to let
 * in. The server cleans every name it is given (the connect URL's `name`, `join`, `changeDisplayName`,
 * the API's token names) and the page cleans what it sends; confctl escapes whatever it prints anyway.
 */

/**
 * C0 controls, DEL, C1 controls, and the bidi formatting characters (ALM, LRM, RLM, the embeddings and
 * overrides U+202A-U+202E and the isolates U+2066-U+2069), as a regex character class.
 */
export const UNSAFE_TEXT_CHARS = '[\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]';
const UNSAFE = new RegExp(UNSAFE_TEXT_CHARS, 'g');

/**
 * The name as it is kept and shown: line breaks and other blanks become single spaces, control and bidi
 * characters go, the ends are trimmed. Stripped, not refused: a name pasted from a chat or a document
 * often carries an invisible mark or a line break, and refusing it would stop a guest at the door for
 * nothing they can see. '' when nothing visible is left (the caller decides what that means).
 */
export function cleanDisplayName(raw: string): string {
  return raw.replace(/\s+/g, ' ').replace(UNSAFE, '').replace(/ {2,}/g, ' ').trim();
}
