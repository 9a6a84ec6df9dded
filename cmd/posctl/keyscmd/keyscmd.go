// Package keyscmd implements "posctl keys": the field engineer's and the
// test bench's key tools. It derives DUKPT keys (TDES per ANSI X9.24-1,
// AES per ANSI X9.24-3), enciphers and deciphers PIN blocks and data the
// way a terminal does, advances KSNs, wraps and unwraps TR-31 key blocks,
// computes key check values, and derives the EMV issuer keys and
// cryptograms of posd/crypto/emv (ICC master keys, session keys, AC, ARPC).
//
// Values go in and come out as hexadecimal; output is upper case, one
// value per line on stdout. Errors are one line on stderr starting with
// "posctl keys: " and a non-zero exit status (1 for a bad value or a
// failed operation, 2 for a usage mistake).
//
// The tool handles clear keys and PINs given on its command line: it is
// meant for test keys and the bench, never for production key material.
package keyscmd

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"posd/crypto/dukpt"
	"posd/crypto/mac"
	"posd/crypto/pinblock"
	"posd/crypto/tdes"
	"posd/crypto/tr31"
	"posd/terminal/wiresec"
)

// Exit statuses of Run.
const (
	ExitOK    = 0 // success
	ExitError = 1 // a value was rejected or the operation failed
	ExitUsage = 2 // unknown command or option, missing or extra arguments
)

// Usage is the help text printed by "posctl keys help".
const Usage = `usage: posctl keys <command> [options]

DUKPT (hex in and out; --mode tdes = ANSI X9.24-1, aes = ANSI X9.24-3):
  dukpt derive-ik       --mode tdes|aes --bdk HEX --ksn HEX [--key-type T]
  dukpt derive-txn-key  --mode tdes|aes (--bdk HEX | --ik HEX) --ksn HEX [--key-type T]
  dukpt encrypt-pin     --mode tdes|aes (--bdk HEX | --ik HEX) --ksn HEX --pin DIGITS --pan PAN [--key-type T]
  dukpt decrypt-pin     --mode tdes|aes (--bdk HEX | --ik HEX) --ksn HEX --pinblock HEX --pan PAN [--key-type T]
  dukpt encrypt-request --mode tdes|aes (--bdk HEX | --ik HEX) --ksn HEX --data HEX [--padding 2|1] [--iv HEX] [--key-type T]
  dukpt decrypt-request --mode tdes|aes (--bdk HEX | --ik HEX) --ksn HEX --data HEX [--padding 2|1] [--iv HEX] [--key-type T]
  dukpt advance-ksn     --mode tdes|aes --ksn HEX

  derive-ik/derive-txn-key: --key-type is the AES initial key type
  (default: that of the BDK). PIN and data commands: --key-type is the AES
  working key type (default aes128). Key types: aes128 aes192 aes256
  tdes2 tdes3. derive-txn-key prints the TDES transaction key before any
  variant, or the AES transaction derivation key. PIN blocks are ISO 9564
  format 0 under the TDES PIN variant, format 4 under the AES PIN key.
  Request data (e.g. a track 2 as hex of its ASCII) is CBC-enciphered under
  the TDES data request variant or the AES data-encryption (encrypt) key.
  --padding 2 (default) is the terminal's own data cipher: ISO 9797-1
  padding method 2, zero IV, AES-128 key; encrypt-request then gives the
  terminal's DE62 byte for byte and decrypt-request strips the padding.
  --padding 1 is the form of the X9.24 published data vectors: zero
  padding, any --iv and --key-type; decrypt-request keeps the padding.

TR-31 / X9.143 key blocks:
  tr31 export --kbpk HEX --header HEADER16 --key HEX [--opt-block ID=VALUE ...]
  tr31 import --kbpk HEX --block BLOCK
    import prints the key, then header=, usage=, algorithm=, mode=,
    exportability= lines and one opt-block=ID=VALUE line per optional block.

Key check value (TDES: E(key, 0^8); AES: CMAC(key, 0^16); first 3 bytes):
  kcv --alg tdes|aes --key HEX

` + emvUsage + `
  help    print this text
`

// Cmd runs "posctl keys" commands. Its zero value uses crypto/rand.
type Cmd struct {
	// Rand supplies PIN block fill and key block padding; nil means
	// crypto/rand.Reader.
	Rand io.Reader
}

// Run executes "posctl keys" with args (the words after "keys") using
// crypto/rand, and returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	var c Cmd
	return c.Run(args, stdout, stderr)
}

// usageError marks mistakes in how the command was called (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// Run executes "posctl keys" with args and returns the exit status.
func (c *Cmd) Run(args []string, stdout, stderr io.Writer) int {
	out, err := c.dispatch(args)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(stderr, "posctl keys: %s\n", msg)
		var ue *usageError
		if errors.As(err, &ue) {
			return ExitUsage
		}
		return ExitError
	}
	for _, line := range out {
		fmt.Fprintln(stdout, line)
	}
	return ExitOK
}

func (c *Cmd) rnd() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

// dispatch returns the output lines of a successful command.
func (c *Cmd) dispatch(args []string) ([]string, error) {
	if len(args) == 0 {
		return []string{strings.TrimRight(Usage, "\n")}, nil
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		return []string{strings.TrimRight(Usage, "\n")}, nil
	case "dukpt":
		return c.dukpt(args[1:])
	case "tr31":
		return c.tr31(args[1:])
	case "kcv":
		return c.kcv(args[1:])
	case "emv":
		return c.emv(args[1:])
	}
	return nil, usagef("unknown command %q (try \"posctl keys help\")", args[0])
}

// options is a tiny flag set of string options, each allowed at most once
// unless registered as repeatable.
type options struct {
	cmd   string
	fs    *flag.FlagSet
	vals  map[string]*string
	multi map[string]*multiValue
	twice []string // options given more than once
}

type multiValue struct{ vals []string }

func (m *multiValue) String() string     { return strings.Join(m.vals, ",") }
func (m *multiValue) Set(s string) error { m.vals = append(m.vals, s); return nil }

// onceValue records an option given twice so that parse can reject it:
// silently keeping the last of two keys would be a trap. Set never fails,
// because the flag package would quote the value (perhaps a key) in its
// error.
type onceValue struct {
	v     *string
	set   bool
	twice *[]string
	name  string
}

func (o *onceValue) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return *o.v
}

func (o *onceValue) Set(s string) error {
	if o.set {
		*o.twice = append(*o.twice, o.name)
	}
	o.set = true
	*o.v = s
	return nil
}

func newOptions(cmd string, names []string, repeatable ...string) *options {
	o := &options{
		cmd:   cmd,
		fs:    flag.NewFlagSet(cmd, flag.ContinueOnError),
		vals:  map[string]*string{},
		multi: map[string]*multiValue{},
	}
	o.fs.SetOutput(io.Discard)
	o.fs.Usage = func() {}
	for _, n := range names {
		s := new(string)
		o.vals[n] = s
		o.fs.Var(&onceValue{v: s, twice: &o.twice, name: n}, n, "")
	}
	for _, n := range repeatable {
		m := &multiValue{}
		o.multi[n] = m
		o.fs.Var(m, n, "")
	}
	return o
}

func (o *options) parse(args []string) error {
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usagef("%s: see \"posctl keys help\"", o.cmd)
		}
		return usagef("%s: %v", o.cmd, err)
	}
	if len(o.twice) > 0 {
		return usagef("%s: --%s given more than once", o.cmd, o.twice[0])
	}
	if o.fs.NArg() > 0 {
		// Not quoted: a stray argument is often the second half of a key
		// or PIN split by a space.
		return usagef("%s: %d unexpected argument(s) after the options", o.cmd, o.fs.NArg())
	}
	return nil
}

func (o *options) get(name string) string { return *o.vals[name] }

func (o *options) has(name string) bool {
	found := false
	o.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func (o *options) require(names ...string) error {
	for _, n := range names {
		if !o.has(n) {
			return usagef("%s: --%s is required", o.cmd, n)
		}
	}
	return nil
}

// hexValue decodes a hex option. The value itself never appears in the
// error: it may be a key.
func (o *options) hexValue(name string) ([]byte, error) {
	s := strings.TrimSpace(o.get(name))
	if s == "" {
		return nil, fmt.Errorf("%s: --%s is empty", o.cmd, name)
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%s: --%s: odd number of hex digits (%d)", o.cmd, name, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: --%s: not hexadecimal", o.cmd, name)
	}
	return b, nil
}

func upperHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// ---- dukpt ----

const (
	modeTDES = "tdes"
	modeAES  = "aes"
)

var dukptCommands = map[string]func(c *Cmd, o *options) ([]string, error){
	"derive-ik":       (*Cmd).deriveIK,
	"derive-txn-key":  (*Cmd).deriveTxnKey,
	"encrypt-pin":     (*Cmd).encryptPIN,
	"decrypt-pin":     (*Cmd).decryptPIN,
	"encrypt-request": (*Cmd).encryptRequest,
	"decrypt-request": (*Cmd).decryptRequest,
	"advance-ksn":     (*Cmd).advanceKSN,
}

var dukptOptions = map[string][]string{
	"derive-ik":       {"mode", "bdk", "ksn", "key-type"},
	"derive-txn-key":  {"mode", "bdk", "ik", "ksn", "key-type"},
	"encrypt-pin":     {"mode", "bdk", "ik", "ksn", "key-type", "pin", "pan"},
	"decrypt-pin":     {"mode", "bdk", "ik", "ksn", "key-type", "pinblock", "pan"},
	"encrypt-request": {"mode", "bdk", "ik", "ksn", "key-type", "data", "iv", "padding"},
	"decrypt-request": {"mode", "bdk", "ik", "ksn", "key-type", "data", "iv", "padding"},
	"advance-ksn":     {"mode", "ksn"},
}

func (c *Cmd) dukpt(args []string) ([]string, error) {
	if len(args) == 0 || args[0] == "help" {
		if len(args) == 0 {
			return nil, usagef("dukpt: missing subcommand (try \"posctl keys help\")")
		}
		return []string{strings.TrimRight(Usage, "\n")}, nil
	}
	fn, ok := dukptCommands[args[0]]
	if !ok {
		names := make([]string, 0, len(dukptCommands))
		for n := range dukptCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, usagef("dukpt: unknown subcommand %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	o := newOptions("dukpt "+args[0], dukptOptions[args[0]])
	if err := o.parse(args[1:]); err != nil {
		return nil, err
	}
	if err := o.require("mode", "ksn"); err != nil {
		return nil, err
	}
	switch o.get("mode") {
	case modeTDES, modeAES:
	default:
		return nil, usagef("%s: --mode must be tdes or aes", o.cmd)
	}
	if o.get("mode") == modeTDES && o.has("key-type") {
		return nil, usagef("%s: --key-type applies to --mode aes only", o.cmd)
	}
	return fn(c, o)
}

// ksn parses --ksn and checks its size against --mode. allowIKID accepts
// the 8-byte AES initial key ID as well.
func (o *options) ksn(allowIKID bool) ([]byte, error) {
	s := strings.TrimSpace(o.get("ksn"))
	if allowIKID && o.get("mode") == modeAES && len(s) == 2*dukpt.AESIKIDLen {
		return o.hexValue("ksn")
	}
	k, err := dukpt.ParseKSN(s)
	if err != nil {
		return nil, fmt.Errorf("%s: --ksn: %w", o.cmd, err)
	}
	want := dukpt.TDESKSNLen
	if o.get("mode") == modeAES {
		want = dukpt.AESKSNLen
	}
	if len(k) != want {
		return nil, fmt.Errorf("%s: --ksn: %d bytes, --mode %s needs %d", o.cmd, len(k), o.get("mode"), want)
	}
	return k, nil
}

func parseKeyType(s string) (dukpt.KeyType, error) {
	switch strings.ToLower(s) {
	case "aes128", "aes-128":
		return dukpt.KeyAES128, nil
	case "aes192", "aes-192":
		return dukpt.KeyAES192, nil
	case "aes256", "aes-256":
		return dukpt.KeyAES256, nil
	case "tdes2", "2tdea":
		return dukpt.KeyTDES2, nil
	case "tdes3", "3tdea":
		return dukpt.KeyTDES3, nil
	}
	return 0, fmt.Errorf("unknown key type %q (aes128, aes192, aes256, tdes2, tdes3)", s)
}

// keyType returns --key-type, or def when it is absent.
func (o *options) keyType(def dukpt.KeyType) (dukpt.KeyType, error) {
	if !o.has("key-type") {
		return def, nil
	}
	kt, err := parseKeyType(o.get("key-type"))
	if err != nil {
		return 0, usagef("%s: --key-type: %v", o.cmd, err)
	}
	return kt, nil
}

func (c *Cmd) deriveIK(o *options) ([]string, error) {
	if err := o.require("bdk"); err != nil {
		return nil, err
	}
	bdk, err := o.hexValue("bdk")
	if err != nil {
		return nil, err
	}
	defer clear(bdk)
	ksn, err := o.ksn(true)
	if err != nil {
		return nil, err
	}
	var ik []byte
	if o.get("mode") == modeTDES {
		ik, err = dukpt.TDESDeriveIK(bdk, ksn)
	} else if o.has("key-type") {
		var kt dukpt.KeyType
		if kt, err = o.keyType(0); err != nil {
			return nil, err
		}
		ik, err = dukpt.AESDeriveIKType(bdk, ksn, kt)
	} else {
		ik, err = dukpt.AESDeriveIK(bdk, ksn)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(ik)
	return []string{upperHex(ik)}, nil
}

// txnKey derives the transaction key (TDES, before variants) or the AES
// transaction derivation key from --bdk or --ik. ikType, for AES with
// --bdk, derives an initial key of that type first.
func (c *Cmd) txnKey(o *options, ksn []byte, ikType *dukpt.KeyType) ([]byte, error) {
	name, key, err := o.baseKey()
	if err != nil {
		return nil, err
	}
	defer clear(key)
	hasBDK := name == "bdk"
	var k []byte
	switch {
	case o.get("mode") == modeTDES && hasBDK:
		k, err = dukpt.TDESDeriveKey(key, ksn)
	case o.get("mode") == modeTDES:
		k, err = dukpt.TDESDeriveKeyFromIK(key, ksn)
	case hasBDK && ikType != nil:
		var ik []byte
		ik, err = dukpt.AESDeriveIKType(key, ksn, *ikType)
		if err == nil {
			k, err = dukpt.AESDeriveKeyFromIK(ik, ksn)
			clear(ik)
		}
	case hasBDK:
		k, err = dukpt.AESDeriveKey(key, ksn)
	default:
		if ikType != nil && ikType.Len() != len(key) {
			return nil, fmt.Errorf("%s: --ik is %d bytes, --key-type %v needs %d", o.cmd, len(key), *ikType, ikType.Len())
		}
		k, err = dukpt.AESDeriveKeyFromIK(key, ksn)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return k, nil
}

func (c *Cmd) deriveTxnKey(o *options) ([]string, error) {
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	var ikType *dukpt.KeyType
	if o.has("key-type") {
		kt, err := o.keyType(0)
		if err != nil {
			return nil, err
		}
		ikType = &kt
	}
	k, err := c.txnKey(o, ksn, ikType)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return []string{upperHex(k)}, nil
}

// pinKey returns the PIN encryption key for the KSN: the TDES PIN variant
// or the AES PIN working key of --key-type (default aes128), which must be
// an AES type since format 4 is an AES block.
func (c *Cmd) pinKey(o *options, ksn []byte) ([]byte, error) {
	kt, err := o.keyType(dukpt.KeyAES128)
	if err != nil {
		return nil, err
	}
	if o.get("mode") == modeAES && kt != dukpt.KeyAES128 && kt != dukpt.KeyAES192 && kt != dukpt.KeyAES256 {
		return nil, usagef("%s: --key-type must be an AES type: PIN blocks under AES DUKPT are format 4", o.cmd)
	}
	txn, err := c.txnKey(o, ksn, nil)
	if err != nil {
		return nil, err
	}
	defer clear(txn)
	var k []byte
	if o.get("mode") == modeTDES {
		k, err = dukpt.TDESVariant(txn, dukpt.VariantPIN)
	} else {
		k, err = dukpt.AESWorkingKey(txn, ksn, dukpt.UsagePIN, kt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return k, nil
}

func (c *Cmd) encryptPIN(o *options) ([]string, error) {
	if err := o.require("pin", "pan"); err != nil {
		return nil, err
	}
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	k, err := c.pinKey(o, ksn)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	pin := []byte(o.get("pin"))
	defer clear(pin)
	var blk []byte
	if o.get("mode") == modeTDES {
		blk, err = pinblock.EncryptFormat0Digits(k, pin, o.get("pan"))
	} else {
		blk, err = pinblock.EncryptFormat4Digits(k, pin, o.get("pan"), c.rnd())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{upperHex(blk)}, nil
}

func (c *Cmd) decryptPIN(o *options) ([]string, error) {
	if err := o.require("pinblock", "pan"); err != nil {
		return nil, err
	}
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	blk, err := o.hexValue("pinblock")
	if err != nil {
		return nil, err
	}
	k, err := c.pinKey(o, ksn)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	var pin string
	if o.get("mode") == modeTDES {
		pin, err = pinblock.DecryptFormat0(k, blk, o.get("pan"))
	} else {
		pin, err = pinblock.DecryptFormat4(k, blk, o.get("pan"))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{pin}, nil
}

// Request data comes in two forms, chosen with --padding:
//
//   - 2 (the default) is the terminal's own data cipher, terminal/wiresec:
//     the data request key of the KSN (TDES data request variant, or the
//     AES-128 data-encryption key), ISO 9797-1 padding method 2, CBC with a
//     zero IV. encrypt-request gives byte for byte the DE62 a terminal
//     sends for the same KSN and track; decrypt-request checks and strips
//     the padding. --iv may only be zero and --key-type only aes128, as on
//     the terminal.
//   - 1 is the generic form of the X9.24 published data vectors: zero
//     bytes up to whole blocks (ISO 9797-1 padding method 1), any --iv,
//     any AES working key type; decrypt-request prints every block,
//     padding included. No terminal sends this form.
const (
	paddingTerminal = "2"
	paddingZero     = "1"
)

// padding returns --padding, or the terminal's when it is absent.
func (o *options) padding() (string, error) {
	if !o.has("padding") {
		return paddingTerminal, nil
	}
	switch p := strings.TrimSpace(o.get("padding")); p {
	case paddingTerminal, paddingZero:
		return p, nil
	}
	return "", usagef("%s: --padding must be 2 (ISO 9797-1 method 2, the terminal's) or 1 (zeros)", o.cmd)
}

// baseKey returns the name and bytes of --bdk or --ik, exactly one of
// which must be given.
func (o *options) baseKey() (string, []byte, error) {
	hasBDK, hasIK := o.has("bdk"), o.has("ik")
	if hasBDK == hasIK {
		return "", nil, usagef("%s: give exactly one of --bdk and --ik", o.cmd)
	}
	name := "bdk"
	if hasIK {
		name = "ik"
	}
	key, err := o.hexValue(name)
	if err != nil {
		return "", nil, err
	}
	return name, key, nil
}

// session returns the terminal's wire-security session of the KSN: from
// the BDK as the acquirer derives it, or from the initial key by way of
// the transaction key, as the terminal's originator holds it.
func (c *Cmd) session(o *options) (*wiresec.Session, error) {
	if o.has("key-type") {
		kt, err := o.keyType(0)
		if err != nil {
			return nil, err
		}
		if kt != dukpt.KeyAES128 {
			return nil, usagef("%s: the terminal's AES data key is aes128; another --key-type needs --padding 1", o.cmd)
		}
	}
	mode, err := wiresec.ParseMode(o.get("mode"))
	if err != nil {
		return nil, usagef("%s: --mode must be tdes or aes", o.cmd)
	}
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	name, key, err := o.baseKey()
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var s *wiresec.Session
	if name == "bdk" {
		s, err = wiresec.ForHost(mode, key, ksn)
	} else {
		var txn []byte
		if mode == wiresec.ModeTDES {
			txn, err = dukpt.TDESDeriveKeyFromIK(key, ksn)
		} else {
			txn, err = dukpt.AESDeriveKeyFromIK(key, ksn)
		}
		if err == nil {
			s, err = wiresec.ForTerminal(mode, ksn, txn)
			clear(txn)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return s, nil
}

// terminalIV accepts --iv only as the terminal uses it: all zeros.
func (o *options) terminalIV(bs int) error {
	if !o.has("iv") {
		return nil
	}
	v, err := o.hexValue("iv")
	if err != nil {
		return err
	}
	if len(v) != bs {
		return fmt.Errorf("%s: --iv is %d bytes, the cipher needs %d", o.cmd, len(v), bs)
	}
	for _, b := range v {
		if b != 0 {
			return usagef("%s: the terminal's data cipher uses a zero IV; another --iv needs --padding 1", o.cmd)
		}
	}
	return nil
}

// terminalData runs the terminal's data cipher (--padding 2) over --data.
func (c *Cmd) terminalData(o *options, encrypt bool) ([]string, error) {
	s, err := c.session(o)
	if err != nil {
		return nil, err
	}
	defer s.Wipe()
	bs := tdes.BlockSize
	if s.Mode() == wiresec.ModeAES {
		bs = aes.BlockSize
	}
	if err := o.terminalIV(bs); err != nil {
		return nil, err
	}
	if err := o.require("data"); err != nil {
		return nil, err
	}
	data, err := o.hexValue("data")
	if err != nil {
		return nil, err
	}
	defer clear(data)
	var out []byte
	if encrypt {
		out, err = s.EncryptRequestData(data)
	} else {
		out, err = s.DecryptRequestData(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(out)
	return []string{upperHex(out)}, nil
}

// dataCipher returns the block cipher of the generic form (--padding 1):
// the TDES data request variant, or the AES DUKPT data-encryption (encrypt
// usage) working key of --key-type (default aes128; tdes2/tdes3 give a
// TDES cipher).
func (c *Cmd) dataCipher(o *options, ksn []byte) (cipher.Block, error) {
	kt, err := o.keyType(dukpt.KeyAES128)
	if err != nil {
		return nil, err
	}
	txn, err := c.txnKey(o, ksn, nil)
	if err != nil {
		return nil, err
	}
	defer clear(txn)
	var k []byte
	if o.get("mode") == modeTDES {
		k, err = dukpt.TDESVariant(txn, dukpt.VariantDataRequest)
		kt = dukpt.KeyTDES2
	} else {
		k, err = dukpt.AESWorkingKey(txn, ksn, dukpt.UsageDataEncrypt, kt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(k)
	var b cipher.Block
	switch kt {
	case dukpt.KeyTDES2, dukpt.KeyTDES3:
		b, err = tdes.NewCipher(k)
	default:
		b, err = aes.NewCipher(k)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return b, nil
}

// dataAndIV reads --data and --iv for a cipher of block size bs.
func (o *options) dataAndIV(bs int) (data, iv []byte, err error) {
	if err := o.require("data"); err != nil {
		return nil, nil, err
	}
	if data, err = o.hexValue("data"); err != nil {
		return nil, nil, err
	}
	iv = make([]byte, bs)
	if o.has("iv") {
		v, err := o.hexValue("iv")
		if err != nil {
			return nil, nil, err
		}
		if len(v) != bs {
			return nil, nil, fmt.Errorf("%s: --iv is %d bytes, the cipher needs %d", o.cmd, len(v), bs)
		}
		iv = v
	}
	return data, iv, nil
}

func (c *Cmd) encryptRequest(o *options) ([]string, error) {
	pad, err := o.padding()
	if err != nil {
		return nil, err
	}
	if pad == paddingTerminal {
		return c.terminalData(o, true)
	}
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	b, err := c.dataCipher(o, ksn)
	if err != nil {
		return nil, err
	}
	data, iv, err := o.dataAndIV(b.BlockSize())
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	n := (len(data) + bs - 1) / bs * bs
	buf := make([]byte, n) // zero padding to whole blocks
	copy(buf, data)
	clear(data)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf, buf)
	return []string{upperHex(buf)}, nil
}

func (c *Cmd) decryptRequest(o *options) ([]string, error) {
	pad, err := o.padding()
	if err != nil {
		return nil, err
	}
	if pad == paddingTerminal {
		return c.terminalData(o, false)
	}
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	b, err := c.dataCipher(o, ksn)
	if err != nil {
		return nil, err
	}
	data, iv, err := o.dataAndIV(b.BlockSize())
	if err != nil {
		return nil, err
	}
	if len(data)%b.BlockSize() != 0 {
		return nil, fmt.Errorf("%s: --data is %d bytes, not a multiple of the %d-byte block", o.cmd, len(data), b.BlockSize())
	}
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(data, data)
	return []string{upperHex(data)}, nil
}

func (c *Cmd) advanceKSN(o *options) ([]string, error) {
	ksn, err := o.ksn(false)
	if err != nil {
		return nil, err
	}
	next, err := dukpt.NextKSN(ksn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{upperHex(next)}, nil
}

// ---- tr31 ----

func (c *Cmd) tr31(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, usagef("tr31: missing subcommand (export or import)")
	}
	switch args[0] {
	case "export":
		return c.tr31Export(args[1:])
	case "import":
		return c.tr31Import(args[1:])
	case "help":
		return []string{strings.TrimRight(Usage, "\n")}, nil
	}
	return nil, usagef("tr31: unknown subcommand %q (export or import)", args[0])
}

func (c *Cmd) tr31Export(args []string) ([]string, error) {
	o := newOptions("tr31 export", []string{"kbpk", "header", "key"}, "opt-block")
	if err := o.parse(args); err != nil {
		return nil, err
	}
	if err := o.require("kbpk", "header", "key"); err != nil {
		return nil, err
	}
	kbpk, err := o.hexValue("kbpk")
	if err != nil {
		return nil, err
	}
	defer clear(kbpk)
	key, err := o.hexValue("key")
	if err != nil {
		return nil, err
	}
	defer clear(key)
	hs := o.get("header")
	if len(hs) != 16 {
		return nil, fmt.Errorf("%s: --header must be the 16-character fixed header, got %d characters", o.cmd, len(hs))
	}
	h, err := tr31.ParseHeader(hs)
	if err != nil {
		return nil, fmt.Errorf("%s: --header: %w", o.cmd, err)
	}
	if len(h.Blocks) > 0 && len(o.multi["opt-block"].vals) > 0 {
		return nil, usagef("%s: give optional blocks either in --header or with --opt-block, not both", o.cmd)
	}
	for _, ob := range o.multi["opt-block"].vals {
		id, data, ok := strings.Cut(ob, "=")
		if !ok || len(id) != 2 {
			return nil, usagef("%s: --opt-block wants ID=VALUE with a two-character ID", o.cmd)
		}
		h.Blocks = append(h.Blocks, tr31.OptBlock{ID: id, Data: data})
	}
	blk, err := tr31.Wrap(kbpk, h, key, c.rnd())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{blk}, nil
}

func (c *Cmd) tr31Import(args []string) ([]string, error) {
	o := newOptions("tr31 import", []string{"kbpk", "block"})
	if err := o.parse(args); err != nil {
		return nil, err
	}
	if err := o.require("kbpk", "block"); err != nil {
		return nil, err
	}
	kbpk, err := o.hexValue("kbpk")
	if err != nil {
		return nil, err
	}
	defer clear(kbpk)
	blk := strings.TrimSpace(o.get("block"))
	h, key, err := tr31.Unwrap(kbpk, blk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(key)
	out := []string{
		upperHex(key),
		"header=" + blk[:16],
		"usage=" + h.KeyUsage,
		"algorithm=" + string(h.Algorithm),
		"mode=" + string(h.ModeOfUse),
		"exportability=" + string(h.Exportability),
	}
	for _, b := range h.Blocks {
		out = append(out, "opt-block="+b.ID+"="+b.Data)
	}
	return out, nil
}

// ---- kcv ----

func (c *Cmd) kcv(args []string) ([]string, error) {
	o := newOptions("kcv", []string{"alg", "key"})
	if err := o.parse(args); err != nil {
		return nil, err
	}
	if err := o.require("alg", "key"); err != nil {
		return nil, err
	}
	alg := o.get("alg")
	if alg != "tdes" && alg != "aes" {
		return nil, usagef("kcv: --alg must be tdes or aes")
	}
	key, err := o.hexValue("key")
	if err != nil {
		return nil, err
	}
	defer clear(key)
	v, err := mac.KCV(alg, key)
	if err != nil {
		return nil, fmt.Errorf("kcv: %w", err)
	}
	return []string{upperHex(v)}, nil
}
