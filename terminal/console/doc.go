// Package console is the field engineer's service console on the board's
// debug UART (115200 8N1, opened by the board; a pseudo-terminal on the
// simulated board). That port is the first thing an attacker with a
// screwdriver reaches: nothing works before a login, every login is bound
// to this terminal, one engineer, one role, an expiry and a fresh challenge,
// and the console never shows card data or keys.
//
// # Login
//
// login prints "challenge: posd-login TERMINAL NONCE" and "token: ". The
// engineer obtains from the acquirer's engineer authority an Ed25519-signed
// token for that line (package engauth) and pastes it; it is echoed as one
// '*' per character. The challenge is fresh for every attempt and forgotten
// after it, so a token is valid once. The prompt then reads
// "posd(ENGINEER:ROLE)> ". A session is logged out by logout or Ctrl-D on
// an empty command line, after IdleTimeout without a keystroke (default 5
// minutes), when the token's expiry passes, or at once when the port
// hangs up (end of file, EIO: audited as disconnected) or reads a BREAK
// (NUL, as a raw UART reads the line held low by an adapter unplugged or
// powered off; Ctrl-@ sends it too), or when its output was not read
// for IdleTimeout (the terminal program gone without a hang-up): a UART
// reads no end of file, and the next person at the port must not inherit
// the session. A keystroke is a
// byte the console echoes or acts on: line noise (0xFF, other dropped
// bytes) is none.
//
// Failed logins lock the console (all engineers: before verification the
// console cannot tell who is typing): LockAfter (3) failures in a row lock
// it for FirstLock (30 s), each further failure doubles the lock, up to
// MaxLock (1 h): 30 s, 1 min, 2 min, ... 32 min, 1 h, 1 h. While locked,
// login only says how long to wait and verifies nothing. A successful login
// resets the count. The state is in bbolt, so a restart does not unlock; a
// clock set back never makes a lock longer than its own delay.
//
// # Roles and commands
//
// Anyone: help [COMMAND], login, logout, whoami.
//
//	engineer   status, devices, selftest, log [N], txns [N], host test,
//	           sync, params, aside list, restart (type RESTART to confirm)
//	admin      everything an engineer may, aside settle ID OUTCOME
//	           REFERENCE (type the id again to confirm), and factory-reset
//	           (see below)
//	custodian  status, kcv, kbpk component, kbpk cancel, key load
//
// factory-reset first says what it erases and what is unsettled
// (Terminal.Unsettled: the open batch's transactions, the reversals and
// advices waiting for the host, with counts and amounts). Only when
// something is, it asks whether to abandon it: yes goes on, no (or
// anything else) cancels; a no never erases. The last step is always
// the terminal id, typed (anything else cancels); when the unsettled
// transactions changed since they were shown, the reset is cancelled.
// Every cancellation is audited with its step.
//
// While a transaction is in progress, restart and factory-reset are
// refused before they ask for a confirmation, naming the transaction
// (audited as refused); the daemon checks again once they are confirmed.
//
// # Settle by hand
//
// aside list shows the transactions the terminal set aside for the
// merchant to settle by hand with the acquirer or the platform. aside
// settle records one as settled: ID (at most 11 digits), OUTCOME
// (settled for an offline approval; refunded or stands for a face
// payment) and REFERENCE (the rest of the line, words joined by single
// spaces: the acquirer's or the platform's ticket). The console shows
// the transaction and asks for its id again; the daemon refuses an id
// not on the list and a reference that could be card data (one that
// redact would mask is refused at once, before anything is asked). Audited as
// settle_by_hand: the refusal, the cancellation, the request (id and
// outcome) before the daemon records it, then its failure or "recorded"
// with the reference; the engineer and role are the recorder.
//
// Admin includes engineer; neither includes custodian: keys are handled by
// custodians only, and a custodian cannot change or erase the terminal.
// A command of another role answers "not allowed for ROLE (needs ROLES)"
// and is audited.
//
// # Dual control of the KBPK
//
//  1. Custodian A logs in, runs kbpk component and types component 1 in
//     hex on one line (32, 48 or 64 digits, spaces allowed; echoed as '*').
//     A line that is no component is refused and asked for again (an empty
//     line or Ctrl-C stops). The console shows its KCV and asks y/n (asked
//     again on any other answer); on y the component is held in memory only
//     (never on disk) for ComponentHold (15 min), across A's logout.
//  2. Custodian B (a different engineer id, ids compared without regard
//     to case: "cusA" and "CUSA" are one person; A is refused) logs in, runs
//     kbpk component and types component 2 (same length); its KCV is shown
//     and confirmed. Terminal.LoadKBPK gets both; the KBPK's KCV is shown.
//  3. Both components are wiped after the load (whether it worked or not),
//     on kbpk cancel, and when ComponentHold passes. Components are never
//     printed; only one KCV is shown at a time.
//
// A custodian types the form's rows with eyes on the paper: no row may
// come back in clear wherever it lands. The y/n question echoes hex digits
// as '*', and so does the command prompt for one line after the component
// prompt or its question ended without a confirmed component (Ctrl-C,
// Ctrl-D, n, a logout: idle, expiry), after kbpk component
// ended before its component prompt (refused for want of a login or of
// the role, or component 2 by the custodian of component 1), and after a
// kbpk line that is no command ("kbpk componet": a usage error). An
// empty line at the component prompt is the custodian's own stop: the
// command after it is echoed as any. Leaving the component prompt
// without a component is audited (kbpk_component: how it was left,
// never what was typed).
//
// key load reads a TR-31 block (echoed as '*') and loads it under the KBPK
// (an empty answer cancels, audited as key_load cancelled).
//
// # What the console never prints
//
// Tokens, key components and key blocks are echoed as '*'; a line that
// does not parse is never repeated. Every other line it writes passes an
// output guard: non-ASCII and control characters become '?'; a line with
// 32 or more hex digits in one run, or in runs joined by single ' ', ':' or
// '-', is withheld whole (no exception is needed: KCVs have 6-10 hex
// digits and KSNs 20-24; the login challenge, made by the console itself,
// is the one line that skips this rule); so is a line with a stretch of
// 16 hex digits (a PIN block, a DES key, a MAC), where a KSN or an id
// (letters and 20 or 24 hex digits, the face-pay platform's session
// FS...) is no part of a stretch; digit runs of more than 19 are
// masked whole, and 13 to 19 digits (in one run or in groups joined by
// single ' ' or '-') that pass the Luhn check keep only their first 6 and
// last 4. What the engineer types at the command prompt (and at a
// confirmation) is echoed as typed, but for what the guard would withhold,
// echoed as '*' as it is typed. The echo goes out keystroke by keystroke,
// so each character is decided by the run it ends so far: the first few
// characters of a run have gone out before the run turns out long, and
// they are fewer than the guard lets through. So:
//
//   - a number's digits beyond its 6th (a number is digits joined by up
//     to two of ' ', '-', '.', ':', '=' and '^'): a card number or a track
//     pasted by mistake never comes back ("log 200" is shown,
//     "4761739001010010" comes back as "476173**********");
//   - a hex group's hex digits beyond its 6th, a group counted as the
//     guard counts one (hex runs joined by single ' ', ':' or '-'), 6
//     being fewer than its 16: a key, a component or a PIN block
//     ("8A3F 5C0E 9B2D ..." comes back as "8A3F 5C** **** ...", a word's
//     hex letters count too: "CAFEBABE..." as "CAFEBA**...");
//   - a base64url run's characters beyond its 15th once the run mixes
//     upper and lower case letters, as base64 of anything does: a login
//     token pasted at the command prompt shows only the start of its
//     JSON header. A run in one case ("AAAA...", "selftest") is no token.
//
// Command words, counts, terminal ids and KCVs stay readable: no command
// word has more than 3 hex digits in a row nor more than 13 characters.
// An argument that is a KSN (20 hex digits) is echoed masked beyond its
// 6th. The line itself is what was typed, and backspace still erases one
// column per byte.
//
// # Line discipline
//
// CR, LF and CRLF end a line; 0x08 and 0x7F erase (echo "\b \b"); Ctrl-W
// erases the word before the cursor (and the spaces after it), as a
// terminal's WERASE does; Ctrl-U erases the line; Ctrl-C abandons it (and
// the login or confirmation it answers), and interrupts a command waiting on the daemon (a self test, a
// host test): its context is cancelled, the prompt comes back at once
// (a query that does not heed its context is left to end on its own, and
// the next query waits for it; sync, ota check and the key, restart and
// reset commands are waited for and say their outcome), and the
// interruption is audited. What is typed while a command runs is kept for
// the prompt that follows, up to 4 KiB, except what came before a Ctrl-C; Ctrl-D on an empty line logs out at the command prompt (as a
// login shell does) and cancels a question elsewhere, and is dropped
// inside a line; ESC sequences (arrow keys), other control bytes and
// bytes of 0x80 and above are dropped without echo. A whole UTF-8
// character (Chinese, an accented letter) is dropped too, but the first of
// a line brings a note that only ASCII is taken, and the prompt and the
// line so far (echoed as before) are shown again; line noise (0xFF, stray
// high bytes) says nothing. A BREAK logging a session out says so
// ("BREAK on the line (a NUL byte: ...)"). A command line that is no
// command is never repeated; when its first word starts a command's
// word ("sta": status), or is one typo away from one (two for words
// longer than 4 letters), the answer names that command ("stauts": did
// you mean status?); a typo in a subcommand ("ota stauts") gets the
// usage and the subcommand meant. help GROUP (help aside) lists the
// group's commands with their summaries. A line longer than MaxLine
// (1024) bytes is discarded to its end and refused. Output lines end CRLF.
//
// # Audit log
//
// Audit (posctl audit, GET /v1/audit) reads the newest entries of the
// bbolt bucket console_audit (at most MaxAudit kept). Events:
// console_start and console_stop (Serve on a port; stopped by shutdown,
// disconnected: the other side hung up, end of file or EIO, at once even
// while a command runs; or port failed; when a port's last Serve hung up
// before reading a byte, the next writes console_start only once a byte
// comes, and console_stop only after a console_start: a port nobody holds,
// served again every minute, does not fill the log), login (verified
// engineer and role), login_failed (the reason class and the claimed,
// unverified engineer id; never the token; also a login that verified no
// token: refused while locked, abandoned at the token prompt,
// unavailable; as "login" can be typed thousands of times a second, one
// of those is written at most once a minute, and the next login or
// login_failed entry counts the ones not written), logout (command, idle, expired,
// shutdown, disconnected, port failed, factory reset), command (the
// command's name only, never its arguments; "WORD: usage error" for the
// first word of two-word commands used wrongly, "host" or "ota foo";
// "unknown" for a line that is none; "NAME: interrupted" for Ctrl-C during it), refused,
// kbpk_component, kbpk_load, key_load, restart, settle_by_hand,
// factory_reset (a failed
// load, restart or reset says why, as the console did: the daemon's
// reason, which names no key material, through the output guard). The console
// fails closed: no login and no command when its entry cannot be written.
//
// The audit log outlives a factory reset: the start that erases the
// database reads the log out of it first (ReadAuditFile) and brings it
// into the new one (ImportAudit) with their sequence numbers, followed by
// a factory_reset entry (no engineer) saying when the reset was carried
// out, what it erased, and how many entries were kept or why they were
// lost.
package console
