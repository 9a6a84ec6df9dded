// Package pin reads a PIN from the PIN pad for ISO 9564 PIN blocks.
//
// An Entry reads key events from a Keys (the board's keypad, adapted by the
// daemon: this package never sees a driver) and collects the digits in a
// fixed buffer of its own. A Read goes like this:
//
//   - it flushes the keypad's queue first, so that no key pressed before
//     the prompt becomes a digit, then shows the prompt (StateStart);
//   - only key presses count (Down events): a release does nothing, and a
//     second press of a key that was never released (an auto-repeat, or a
//     release the keypad lost) is ignored; the keypad driver never
//     repeats;
//   - a digit is added up to Opts.Max (12); one more is refused
//     (StateFull) and the entry goes on;
//   - Clear erases every digit entered so far (StateCleared);
//   - Cancel ends the entry with ErrCancelled;
//   - Enter with Opts.Min (4) to Opts.Max digits accepts the PIN; with
//     fewer it is refused (StateTooShort) and the entry goes on; with no
//     digit at all it bypasses PIN entry (ErrBypassed) when the caller
//     allows it (Opts.AllowBypass, an EMV terminal option; off by default),
//     and is refused like any short PIN otherwise;
//   - the whole entry is bounded by Opts.Timeout (30 s) and, from the
//     first key press on, the time between two presses by
//     Opts.InterKeyTimeout (15 s); either ends it with ErrTimeout;
//   - the caller's context ends it with ErrStopped (wrapping the context's
//     error), a keypad failure with ErrKeypad; other keys (function, * and
//     #) are ignored.
//
// After every key press, and once more when the entry ends, the prompt
// callback gets a Progress: the number of digits entered and the State,
// never a digit, so that the customer display can show one '*' per digit
// and say why a key was refused.
//
// # The clear PIN
//
// The digits exist in one place: a buffer inside the Entry (on the heap,
// which Go's collector never moves, unlike a goroutine's stack). On Enter
// the accepted digits are handed, as ASCII bytes, to the caller's Builder —
// OnlinePIN makes the encrypted PIN block of the DUKPT session (format 0
// under TDES, format 4 under AES), OfflinePlaintextPIN the EMV VERIFY
// block — and the buffer is wiped as soon as the Builder returns. It is
// wiped on every other way out too: Cancel, Clear, timeout, bypass, a
// keypad or Builder error, the caller's context, a panic in a callback.
// A Builder must not keep the slice it gets.
//
// A digit is never logged, put in an error, shown, or printed: Key and
// Event format as "digit" through fmt, log/slog and encoding/json. The key
// events themselves pass through a few local variables on their way from
// the keypad to the buffer; those are cleared after use, but Go gives no
// guarantee over copies the compiler makes.
//
// An Entry reads one PIN at a time (a second Read fails with ErrBusy) and
// is reused for the next.
package pin
