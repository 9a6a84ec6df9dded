// Package keyload installs keys on the terminal under dual control: two key
// custodians each enter one component of the key block protection key
// (KBPK), which is stored in the key store; DUKPT initial keys then arrive
// as TR-31 key blocks under that KBPK and are loaded into the terminal's
// DUKPT slot. Only key check values and KSNs ever leave the package.
//
// KBPK algorithms (tr31 algorithm codes): 'T' TDES, 16 bytes (double
// length) or 24 (triple), unwrapping key blocks of version B or C; 'A' AES,
// 16, 24 or 32 bytes, unwrapping version D. Version A (deprecated key
// variant binding) is refused. The usual choice follows the DUKPT mode
// (DefaultAlgorithm): a TDES KBPK for TDES DUKPT, AES for AES DUKPT; an AES
// KBPK may also carry a TDES initial key.
//
// The KBPK must be at least as strong as the key it carries (double-length
// TDES 80 bits, triple-length 112, AES its size): an AES initial key under
// a TDES KBPK, or AES-256 under AES-128, is refused.
//
// DUKPT initial keys are TR-31 key usage B1, mode of use X (key derivation)
// or N, non-exportable (N: a block marked E or S is made to travel on, to
// an HSM or a key injection facility, not for a terminal), with the
// initial KSN in an optional block (ANSI X9.143):
//
//	TDES DUKPT  algorithm T, 16 bytes; "KS" = the initial key serial number,
//	            20 hex digits (10 bytes, counter zero); 16 hex digits (the
//	            legacy 8-byte form) are padded with a zero counter.
//	AES DUKPT   algorithm A; "IK" = the initial key ID, 16 hex digits
//	            (8 bytes: BDK ID and derivation ID); the initial KSN is the
//	            ID followed by a zero 32-bit counter.
//
// The KBPK may also arrive without custodians, by remote key loading in
// the manner of ANSI X9 TR-34 (remote.go): LoadKeyToken opens a key token
// from the acquirer's key distribution host with the terminal's device
// identity and stores its key as LoadKBPK does; LoadRemote runs the whole
// exchange over HTTP, KBPK and DUKPT initial key.
package keyload

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"posd/crypto/dukpt"
	"posd/crypto/keystore"
	"posd/crypto/tr31"
	"posd/terminal/dukptkeys"
	"posd/terminal/wiresec"
)

// KBPKName is the key store entry of the key block protection key.
const KBPKName = "kbpk.0"

// The key usage of a DUKPT initial key.
const UsageDUKPTInitialKey = "B1"

// kbpkHeader describes the stored KBPK: a TR-31 key block protection key
// (K1) that may only unwrap (mode D), never exported, for storage.
func kbpkHeader(alg byte) tr31.Header {
	return tr31.Header{Version: tr31.VersionD, KeyUsage: "K1", Algorithm: alg, ModeOfUse: 'D',
		Exportability: 'N', KeyContext: tr31.ContextStorage}
}

// Loader installs keys into the terminal's key store and DUKPT slot.
type Loader struct {
	Keys  *keystore.Store   // where the KBPK lives (KBPKName)
	DUKPT *dukptkeys.Source // the terminal's DUKPT slot
}

// DefaultAlgorithm is the KBPK algorithm that goes with the DUKPT slot's
// mode: 'T' for TDES DUKPT, 'A' for AES DUKPT (and when there is no slot).
func (l *Loader) DefaultAlgorithm() byte {
	if l != nil && l.DUKPT != nil && l.DUKPT.Mode() == wiresec.ModeTDES {
		return 'T'
	}
	return 'A'
}

// checkLen reports whether n bytes is a KBPK length of alg.
func checkLen(alg byte, n int) error {
	switch alg {
	case 'T':
		if n == 16 || n == 24 {
			return nil
		}
		return fmt.Errorf("%w: a TDES component is 16 or 24 bytes (32 or 48 hex digits), not %d", ErrComponent, n)
	case 'A':
		if n == 16 || n == 24 || n == 32 {
			return nil
		}
		return fmt.Errorf("%w: an AES component is 16, 24 or 32 bytes (32, 48 or 64 hex digits), not %d", ErrComponent, n)
	}
	return fmt.Errorf("%w: %q (want T or A)", ErrAlgorithm, alg)
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// ParseComponent reads a component as a custodian types it: hex digits in
// either case, optionally grouped with spaces or '-'. The caller wipes the
// result. Errors never quote the text.
func ParseComponent(text string) ([]byte, error) {
	if len(text) > 256 {
		return nil, fmt.Errorf("%w: too long", ErrComponent)
	}
	digits := make([]byte, 0, 64)
	defer clear(digits)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n':
		case ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'):
			digits = append(digits, c)
		default:
			return nil, fmt.Errorf("%w: not hex", ErrComponent)
		}
	}
	if len(digits) == 0 || len(digits)%2 != 0 {
		return nil, fmt.Errorf("%w: an even number of hex digits is needed, got %d", ErrComponent, len(digits))
	}
	out := make([]byte, len(digits)/2)
	if _, err := hex.Decode(out, digits); err != nil {
		clear(out)
		return nil, fmt.Errorf("%w: not hex", ErrComponent)
	}
	return out, nil
}

// ComponentKCV checks one KBPK component for algorithm alg ('T' or 'A', see
// the package comment for lengths) and returns its key check value, 6
// upper-case hex digits as keystore.KCV computes them (TDES: E(key, 0^8);
// AES: CMAC(key, 0^16); first 3 bytes), for the custodian to compare with
// the component's form. An all-zero component is refused. The caller wipes
// the component.
func ComponentKCV(alg byte, component []byte) (string, error) {
	if err := checkLen(alg, len(component)); err != nil {
		return "", err
	}
	if allZero(component) {
		return "", fmt.Errorf("%w: all zeros", ErrComponent)
	}
	kcv, err := keystore.KCV(alg, component)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrComponent, err)
	}
	return kcv, nil
}

// combine XORs two checked components into the KBPK; the caller wipes it.
func combine(alg byte, a, b []byte) ([]byte, error) {
	if _, err := ComponentKCV(alg, a); err != nil {
		return nil, fmt.Errorf("first component: %w", err)
	}
	if _, err := ComponentKCV(alg, b); err != nil {
		return nil, fmt.Errorf("second component: %w", err)
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("%w: the components differ in length (%d and %d bytes)", ErrComponent, len(a), len(b))
	}
	if subtle.ConstantTimeCompare(a, b) == 1 {
		return nil, fmt.Errorf("%w: the two components are the same", ErrComponent)
	}
	k := make([]byte, len(a))
	subtle.XORBytes(k, a, b)
	if alg == 'T' && weakTDES(k) {
		clear(k)
		return nil, fmt.Errorf("%w: the combined TDES key has equal parts (single DES)", ErrComponent)
	}
	return k, nil
}

// weakTDES reports a TDES key whose 8-byte parts are equal ignoring the
// parity bits (K1 = K2, or K2 = K3 for triple length), which is single DES.
func weakTDES(k []byte) bool {
	eq := func(x, y []byte) bool {
		for i := range x {
			if x[i]&0xFE != y[i]&0xFE {
				return false
			}
		}
		return true
	}
	if eq(k[0:8], k[8:16]) {
		return true
	}
	return len(k) == 24 && eq(k[8:16], k[16:24])
}

// LoadKBPK XORs the two components a and b (same length, different, neither
// all zeros; see ComponentKCV) into the key block protection key, stores it
// in the key store as KBPKName (usage K1, unwrap only, not exportable),
// replacing any earlier one, and returns its KCV. The caller wipes a and b.
func (l *Loader) LoadKBPK(alg byte, a, b []byte) (kcv string, err error) {
	if l == nil || l.Keys == nil {
		return "", fmt.Errorf("%w: no key store", ErrNoKBPK)
	}
	k, err := combine(alg, a, b)
	if err != nil {
		return "", err
	}
	defer clear(k)
	return l.storeKBPK(alg, k, ErrComponent)
}

// storeKBPK stores k as the KBPK (KBPKName, usage K1, unwrap only, not
// exportable), replacing any earlier one, and returns its KCV: the one
// way a KBPK is installed, from custodian components (LoadKBPK) or a
// remote key token (LoadKeyToken). bad is the error class of an unusable
// key. The caller wipes k.
func (l *Loader) storeKBPK(alg byte, k []byte, bad error) (string, error) {
	kcv, err := checkKBPK(alg, k, bad)
	if err != nil {
		return "", err
	}
	if err := l.Keys.Put(KBPKName, kbpkHeader(alg), k); err != nil {
		return "", fmt.Errorf("keyload: storing the KBPK: %w", err)
	}
	return kcv, nil
}

// checkKBPK checks k is a usable KBPK of algorithm alg (length, not weak)
// and returns its KCV. bad is the error class of an unusable key.
func checkKBPK(alg byte, k []byte, bad error) (string, error) {
	if err := checkLen(alg, len(k)); err != nil {
		return "", fmt.Errorf("%w: %v", bad, err)
	}
	if allZero(k) || (alg == 'T' && weakTDES(k)) {
		return "", fmt.Errorf("%w: a weak key (all zeros, or TDES with equal parts)", bad)
	}
	kcv, err := keystore.KCV(alg, k)
	if err != nil {
		return "", fmt.Errorf("%w: %w", bad, err)
	}
	return kcv, nil
}

// Loaded says what LoadBlock installed; it never holds key bytes.
type Loaded struct {
	Usage string // TR-31 key usage, "B1"
	KCV   string // 6 hex digits of the loaded key (keystore.KCV)
	KSN   string // the initial KSN, upper-case hex (20 digits TDES, 24 AES)
}

// LoadBlock unwraps a TR-31 key block under the stored KBPK and installs the
// key it holds. Only non-exportable DUKPT initial keys (usage B1) are installed, into the
// DUKPT slot with the initial KSN of the block's KS (TDES) or IK (AES)
// optional block; the key's algorithm must fit the slot's mode. Surrounding
// white space of block is ignored. Errors: ErrNoKBPK, ErrBlock (wrapping
// tr31.ErrMAC for a block under another KBPK), ErrUsage, ErrKSN, and the
// DUKPT source's (dukptkeys.ErrKSNReuse when that initial KSN was already
// used here).
func (l *Loader) LoadBlock(block string) (Loaded, error) {
	if l == nil || l.Keys == nil {
		return Loaded{}, fmt.Errorf("%w: no key store", ErrNoKBPK)
	}
	if l.DUKPT == nil {
		return Loaded{}, ErrNoDUKPT
	}
	kh, err := l.Keys.Header(KBPKName)
	if errors.Is(err, keystore.ErrNotFound) {
		return Loaded{}, fmt.Errorf("%w: %w", ErrNoKBPK, err)
	}
	if err != nil {
		return Loaded{}, fmt.Errorf("keyload: reading the KBPK: %w", err)
	}
	kbpkKCV := "unknown"
	if e, err := l.Keys.Info(KBPKName); err == nil && e.KCV != "" {
		kbpkKCV = e.KCV
	}
	under := kbpkRef{alg: kh.Algorithm, kcv: kbpkKCV, whose: "this terminal's KBPK"}
	b, err := checkIKBlock(l.DUKPT.Mode(), under, block)
	if err != nil {
		return Loaded{}, err
	}
	var out Loaded
	err = l.Keys.Use(KBPKName, func(kbpk []byte) error {
		key, loaded, err := b.unwrap(kbpk)
		if err != nil {
			return err
		}
		defer clear(key)
		if err := l.DUKPT.Load(key, b.iksn); err != nil {
			return fmt.Errorf("keyload: loading the DUKPT slot: %w", err)
		}
		out = loaded
		return nil
	})
	if err != nil {
		return Loaded{}, err
	}
	return out, nil
}

// kbpkRef describes the KBPK a block is checked under, for the checks
// and the messages: its algorithm, its KCV and whose it is.
type kbpkRef struct {
	alg   byte
	kcv   string
	whose string // "this terminal's KBPK", "the key token's KBPK"
}

// ikBlock is a DUKPT initial key block whose clear header was checked.
type ikBlock struct {
	block string
	mode  wiresec.Mode
	under kbpkRef
	iksn  []byte
	named bool // the block names the KBPK it is checked under (KP)
}

// checkIKBlock checks the clear header of a B1 block for the DUKPT mode
// and the KBPK it is to be unwrapped under (see LoadBlock).
func checkIKBlock(mode wiresec.Mode, under kbpkRef, block string) (*ikBlock, error) {
	block = strings.TrimSpace(block)
	if len(block) > tr31.MaxLength {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrBlock, tr31.MaxLength)
	}
	h, err := tr31.ParseHeader(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlock, err)
	}
	switch {
	case h.Version == tr31.VersionA:
		return nil, fmt.Errorf("%w: version A (key variant binding) is deprecated; ask for version B, C or D", ErrBlock)
	case under.alg == 'T' && h.Version == tr31.VersionD:
		return nil, fmt.Errorf("%w: version D needs an AES KBPK; %s is TDES", ErrBlock, under.whose)
	case under.alg == 'A' && h.Version != tr31.VersionD:
		return nil, fmt.Errorf("%w: version %c needs a TDES KBPK; %s is AES", ErrBlock, h.Version, under.whose)
	}
	if h.KeyUsage != UsageDUKPTInitialKey {
		return nil, fmt.Errorf("%w: key usage %s; this loader installs DUKPT initial keys (B1) only", ErrUsage, h.KeyUsage)
	}
	if h.ModeOfUse != 'X' && h.ModeOfUse != 'N' {
		return nil, fmt.Errorf("%w: mode of use %c for a DUKPT initial key (want X or N)", ErrUsage, h.ModeOfUse)
	}
	if h.Exportability != 'N' {
		return nil, fmt.Errorf("%w: exportability %c; a DUKPT initial key made for a terminal is non-exportable (N): "+
			"ask the key distribution host for a block made for this terminal", ErrUsage, h.Exportability)
	}
	iksn, err := initialKSN(mode, h)
	if err != nil {
		return nil, err
	}
	named, err := namedKBPK(h, under)
	if err != nil {
		return nil, err
	}
	return &ikBlock{block: block, mode: mode, under: under, iksn: iksn, named: named}, nil
}

// unwrap opens the block under kbpk and checks the key against the DUKPT
// mode and the KBPK's strength. The caller wipes key.
func (b *ikBlock) unwrap(kbpk []byte) (key []byte, out Loaded, err error) {
	h, key, err := tr31.Unwrap(kbpk, b.block)
	if errors.Is(err, tr31.ErrMAC) && b.named {
		return nil, Loaded{}, fmt.Errorf("%w: %w: the block names %s (KCV %s) but does not verify under it: it was altered on the way",
			ErrBlock, err, b.under.whose, b.under.kcv)
	}
	if errors.Is(err, tr31.ErrMAC) {
		// What the custodian can act on: which KBPK the block
		// should have been made under.
		return nil, Loaded{}, fmt.Errorf("%w: %w: the block was not made under %s (KCV %s), or it was altered on the way",
			ErrBlock, err, b.under.whose, b.under.kcv)
	}
	if err != nil {
		return nil, Loaded{}, fmt.Errorf("%w: %w", ErrBlock, err)
	}
	fail := func(err error) ([]byte, Loaded, error) {
		clear(key)
		return nil, Loaded{}, err
	}
	if err := fitsMode(b.mode, h.Algorithm, len(key)); err != nil {
		return fail(err)
	}
	if err := strongEnough(b.under.alg, len(kbpk), h.Algorithm, len(key)); err != nil {
		return fail(err)
	}
	kcv, err := keystore.KCV(h.Algorithm, key)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrUsage, err))
	}
	return key, Loaded{Usage: h.KeyUsage, KCV: kcv, KSN: strings.ToUpper(hex.EncodeToString(b.iksn))}, nil
}

// namedKBPK compares the KBPK check value a block names (optional block
// KP, when its method is the one of the KBPK's algorithm) with the KCV (6
// hex digits) of the KBPK it is checked under: a block made under another
// KBPK is refused (ErrBlock) with both check values, for the custodian to
// act on. named reports that the block names that KBPK.
func namedKBPK(h tr31.Header, under kbpkRef) (named bool, err error) {
	kp, ok := h.Block("KP")
	if !ok || len(kp) < 4 || len(under.kcv) != 6 {
		return false, nil
	}
	method := tr31.KCVCMAC
	if under.alg == 'T' {
		method = tr31.KCVLegacy
	}
	if kp[:2] != method {
		return false, nil
	}
	n := min(len(kp)-2, len(under.kcv))
	if !strings.EqualFold(kp[2:2+n], under.kcv[:n]) {
		return false, fmt.Errorf("%w: the block was made under a KBPK with check value %s; %s has KCV %s: "+
			"load that KBPK, or ask for a block made under this one", ErrBlock, strings.ToUpper(kp[2:2+n]), under.whose, under.kcv)
	}
	return true, nil
}

// initialKSN reads the initial KSN of a B1 block for the DUKPT mode.
func initialKSN(mode wiresec.Mode, h tr31.Header) ([]byte, error) {
	switch mode {
	case wiresec.ModeTDES:
		ks, ok := h.Block("KS")
		if !ok {
			return nil, fmt.Errorf("%w: a TDES DUKPT initial key needs a KS optional block", ErrKSN)
		}
		b, err := hex.DecodeString(ks)
		if err != nil || (len(b) != dukpt.TDESKSNLen && len(b) != 8) {
			return nil, fmt.Errorf("%w: KS must be 20 (or 16) hex digits", ErrKSN)
		}
		iksn := make([]byte, dukpt.TDESKSNLen)
		copy(iksn, b)
		if c, err := dukpt.KSNCounter(iksn); err != nil || c != 0 {
			return nil, fmt.Errorf("%w: KS has a non-zero transaction counter", ErrKSN)
		}
		return iksn, nil
	case wiresec.ModeAES:
		ik, ok := h.Block("IK")
		if !ok {
			return nil, fmt.Errorf("%w: an AES DUKPT initial key needs an IK optional block", ErrKSN)
		}
		b, err := hex.DecodeString(ik)
		if err != nil || len(b) != dukpt.AESIKIDLen {
			return nil, fmt.Errorf("%w: IK must be %d hex digits", ErrKSN, 2*dukpt.AESIKIDLen)
		}
		return append(b, 0, 0, 0, 0), nil
	}
	return nil, fmt.Errorf("%w: unknown DUKPT mode %q", ErrUsage, mode)
}

// fitsMode checks the unwrapped key's algorithm and length against the
// DUKPT mode.
func fitsMode(mode wiresec.Mode, alg byte, n int) error {
	switch {
	case mode == wiresec.ModeTDES && alg == 'T' && n == dukpt.TDESKeyLen:
		return nil
	case mode == wiresec.ModeAES && alg == 'A' && (n == 16 || n == 24 || n == 32):
		return nil
	}
	return fmt.Errorf("%w: a %d-byte key of algorithm %c does not fit %s DUKPT", ErrUsage, n, alg, mode)
}

// strength is the security strength in bits of a key (NIST SP 800-57
// part 1, table 2): double-length TDES 80, triple-length 112, AES its
// size; 0 for anything else.
func strength(alg byte, n int) int {
	switch {
	case alg == 'T' && n == 16:
		return 80
	case alg == 'T' && n == 24:
		return 112
	case alg == 'A' && (n == 16 || n == 24 || n == 32):
		return 8 * n
	}
	return 0
}

// strongEnough refuses a key carried under a weaker KBPK: a key-encrypting
// key must be of equal or greater strength than the keys it protects
// (ANSI X9.24, PCI PIN Security Requirements), or the key is only as safe
// as its KBPK. An AES initial key under a TDES KBPK, or AES-256 under
// AES-128, is refused; a TDES key under any AES KBPK is not.
func strongEnough(kbpkAlg byte, kbpkLen int, keyAlg byte, keyLen int) error {
	k, c := strength(kbpkAlg, kbpkLen), strength(keyAlg, keyLen)
	if k == 0 || c == 0 || k < c {
		return fmt.Errorf("%w: the KBPK (%s, %d bits) is weaker than the %s key it carries (%d bits); "+
			"load a KBPK at least as strong", ErrUsage, algName(kbpkAlg), k, algName(keyAlg), c)
	}
	return nil
}

// KeyInfo describes one key the terminal holds; never the key itself.
type KeyInfo struct {
	Name      string // key store entry, or "dukpt" for the DUKPT slot
	Usage     string // TR-31 key usage, e.g. "K1", "B1"
	Algorithm string // "TDES", "AES", "DES", "HMAC" or the TR-31 code
	KCV       string // 6 hex digits; empty when unknown (the DUKPT slot keeps no initial key)
	KSN       string // the DUKPT slot's current KSN; empty for other keys
	// State says what is wrong with the DUKPT slot when it has no usable
	// key (StateLost); empty when it has one, and for other keys.
	State string
}

// StateLost is the DUKPT slot's KeyInfo.State when its state is lost
// (dukptkeys.ErrStateLost: KSNs were used but the slot holds no state,
// e.g. after a factory reset): only a new initial key, with a new KSN,
// makes it usable again.
const StateLost = "state lost: load an initial key"

func algName(a byte) string {
	switch a {
	case 'T':
		return "TDES"
	case 'A':
		return "AES"
	case 'D':
		return "DES"
	case 'H':
		return "HMAC"
	}
	return string(rune(a))
}

// KCVs lists the keys the terminal holds: every key (not secrets) of the key
// store with its KCV, then the DUKPT slot with its current KSN when one is
// loaded (the slot keeps only derived registers, so no KCV), or with State
// StateLost when its state is lost: the custodian who loads a new KBPK
// after a factory reset checks its KCV before the initial key. Another
// failure of the DUKPT slot is returned with the keys listed before it.
func (l *Loader) KCVs() ([]KeyInfo, error) {
	if l == nil || l.Keys == nil {
		return nil, fmt.Errorf("%w: no key store", ErrNoKBPK)
	}
	entries, err := l.Keys.List()
	if err != nil {
		return nil, fmt.Errorf("keyload: listing keys: %w", err)
	}
	var out []KeyInfo
	for _, e := range entries {
		if e.Secret {
			continue
		}
		out = append(out, KeyInfo{Name: e.Name, Usage: e.Usage, Algorithm: algName(e.Algorithm), KCV: e.KCV})
	}
	if l.DUKPT != nil {
		alg := "AES"
		if l.DUKPT.Mode() == wiresec.ModeTDES {
			alg = "TDES"
		}
		ksn, err := l.DUKPT.KSN()
		switch {
		case err == nil:
			out = append(out, KeyInfo{Name: "dukpt", Usage: UsageDUKPTInitialKey, Algorithm: alg, KSN: ksn})
		case errors.Is(err, dukptkeys.ErrStateLost):
			out = append(out, KeyInfo{Name: "dukpt", Usage: UsageDUKPTInitialKey, Algorithm: alg, State: StateLost})
		case errors.Is(err, dukptkeys.ErrNotProvisioned):
		default:
			return out, fmt.Errorf("keyload: reading the DUKPT slot: %w", err)
		}
	}
	return out, nil
}
