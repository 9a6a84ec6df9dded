// Package pinblock builds and reads ISO 9564-1 PIN blocks.
//
// Formats 0, 1 and 3 are 8-byte blocks meant for TDES; format 2 is the
// 8-byte plaintext block an EMV card verifies offline (VERIFY); format 4
// is the 16-byte AES PIN block, enciphered together with its PAN field
// in the two-encryption process of ISO 9564-1:2017 (intermediate block
// A = E(K, PIN field); B = A XOR PAN field; result = E(K, B)).
//
// PAN rules: formats 0 and 3 use the rightmost 12 PAN digits excluding
// the check digit, right-justified and zero-padded on the left when the
// PAN is shorter. Format 4 uses the PAN field: one nibble holding the PAN
// length minus 12 (0 for PANs of 12 digits or fewer), the PAN digits
// (left-padded with zeros to 12 when shorter), then zero fill.
//
// Random fill (formats 1, 3 and 4) comes from an io.Reader given by the
// caller so tests can fix it; a nil reader means crypto/rand.
//
// Clear PIN fields built inside this package are wiped before return.
// Callers holding a PIN as bytes (straight from a keypad) should prefer the
// *Digits variants, which never copy the PIN into an immutable string, and
// wipe their own buffer afterwards.
package pinblock
