package keyscmd

import (
	"fmt"
	"sort"
	"strings"

	"posd/crypto/emv"
	"posd/crypto/mac"
)

// emvUsage is the EMV part of Usage.
const emvUsage = `EMV issuer keys and cryptograms (EMV book 2; hex in and out; keys print as KEY KCV):
  emv icc-mk      --imk HEX --pan PAN --psn NN [--option a|b]
  emv session-key --icc-mk HEX --method common|mastercard|none [--atc HEX] [--un HEX]
  emv session-key --icc-mk HEX --method common --r HEX
  emv ac          --key HEX --data HEX --padding 1|2
  emv arpc        --key HEX --arqc HEX --method 1 --arc HEX
  emv arpc        --key HEX --arqc HEX --method 2 --csu HEX [--prop HEX]

  icc-mk derives the ICC master key from the issuer master key, the PAN
  and the PAN sequence number (00 when the card has none): option A (book 2
  A1.4.1) or B (A1.4.2, SHA-1, for PANs over 16 digits); without --option,
  A for PANs of up to 16 digits and B above. session-key derives the AC
  session key from the 2-byte ATC: common = EMV common session key
  (A1.3.1, R = ATC and zeros), mastercard = M/Chip SKD (R = ATC, 0000 and
  the 4-byte --un), none = the ICC master key itself (Visa CVN 10; --atc
  not needed); --r gives common's whole 8-byte R instead of the ATC (the
  ARQC for secure messaging keys, or test vectors). ac is the ARQC/TC/AAC: ISO 9797-1 MAC algorithm 3 of the
  transaction data, padding method 1 (zeros, Visa CVN 10) or 2 (80 00..).
  arpc method 1: TDES of ARQC XOR the 2-byte ARC (8 bytes); method 2: MAC
  of ARQC, the 4-byte CSU and 0-8 bytes of proprietary data (4 bytes).
`

var emvCommands = map[string]func(c *Cmd, o *options) ([]string, error){
	"icc-mk":      (*Cmd).emvICCMK,
	"session-key": (*Cmd).emvSessionKey,
	"ac":          (*Cmd).emvAC,
	"arpc":        (*Cmd).emvARPC,
}

var emvOptions = map[string][]string{
	"icc-mk":      {"imk", "pan", "psn", "option"},
	"session-key": {"icc-mk", "atc", "method", "un", "r"},
	"ac":          {"key", "data", "padding"},
	"arpc":        {"key", "arqc", "method", "arc", "csu", "prop"},
}

func (c *Cmd) emv(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, usagef("emv: missing subcommand (try \"posctl keys help\")")
	}
	if args[0] == "help" {
		return []string{strings.TrimRight(Usage, "\n")}, nil
	}
	fn, ok := emvCommands[args[0]]
	if !ok {
		names := make([]string, 0, len(emvCommands))
		for n := range emvCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, usagef("emv: unknown subcommand %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	o := newOptions("emv "+args[0], emvOptions[args[0]])
	if err := o.parse(args[1:]); err != nil {
		return nil, err
	}
	return fn(c, o)
}

// keyLine prints a 16-byte key with its TDES check value.
func keyLine(o *options, k []byte) ([]string, error) {
	kcv, err := mac.KCV("tdes", k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{upperHex(k) + " " + upperHex(kcv)}, nil
}

func (c *Cmd) emvICCMK(o *options) ([]string, error) {
	if err := o.require("imk", "pan", "psn"); err != nil {
		return nil, err
	}
	opt := emv.OptionAuto
	if o.has("option") {
		switch strings.ToLower(o.get("option")) {
		case "a":
			opt = emv.OptionA
		case "b":
			opt = emv.OptionB
		default:
			return nil, usagef("%s: --option must be a or b", o.cmd)
		}
	}
	imk, err := o.hexValue("imk")
	if err != nil {
		return nil, err
	}
	defer clear(imk)
	mk, err := emv.DeriveICCMasterKey(imk, strings.TrimSpace(o.get("pan")), strings.TrimSpace(o.get("psn")), opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(mk)
	return keyLine(o, mk)
}

func (c *Cmd) emvSessionKey(o *options) ([]string, error) {
	if err := o.require("icc-mk", "method"); err != nil {
		return nil, err
	}
	var m emv.SKDMethod
	switch o.get("method") {
	case "common":
		m = emv.SKDCommon
	case "mastercard":
		m = emv.SKDMastercard
	case "none":
		m = emv.SKDNone
	default:
		return nil, usagef("%s: --method must be common, mastercard or none", o.cmd)
	}
	if m == emv.SKDMastercard && !o.has("un") {
		return nil, usagef("%s: --method mastercard needs --un", o.cmd)
	}
	if m != emv.SKDMastercard && o.has("un") {
		return nil, usagef("%s: --un applies to --method mastercard only", o.cmd)
	}
	if o.has("r") {
		if m != emv.SKDCommon || o.has("atc") {
			return nil, usagef("%s: --r replaces --atc, with --method common only", o.cmd)
		}
		return c.emvSessionKeyR(o)
	}
	if m != emv.SKDNone && !o.has("atc") {
		return nil, usagef("%s: --atc is required", o.cmd)
	}
	var atc, un []byte
	var err error
	if o.has("atc") {
		if atc, err = o.hexValue("atc"); err != nil {
			return nil, err
		}
		if len(atc) != 2 {
			return nil, fmt.Errorf("%s: --atc is %d bytes, want 2", o.cmd, len(atc))
		}
	}
	if o.has("un") {
		if un, err = o.hexValue("un"); err != nil {
			return nil, err
		}
	}
	mk, err := o.hexValue("icc-mk")
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	sk, err := emv.DeriveSessionKey(m, mk, atc, un)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(sk)
	return keyLine(o, sk)
}

// emvSessionKeyR is the common session key with a whole R.
func (c *Cmd) emvSessionKeyR(o *options) ([]string, error) {
	r, err := o.hexValue("r")
	if err != nil {
		return nil, err
	}
	mk, err := o.hexValue("icc-mk")
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	sk, err := emv.CommonSessionKey(mk, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	defer clear(sk)
	return keyLine(o, sk)
}

func (c *Cmd) emvAC(o *options) ([]string, error) {
	if err := o.require("key", "data", "padding"); err != nil {
		return nil, err
	}
	var p emv.Padding
	switch o.get("padding") {
	case "1":
		p = emv.Padding1
	case "2":
		p = emv.Padding2
	default:
		return nil, usagef("%s: --padding must be 1 or 2", o.cmd)
	}
	data, err := o.hexValue("data")
	if err != nil {
		return nil, err
	}
	key, err := o.hexValue("key")
	if err != nil {
		return nil, err
	}
	defer clear(key)
	ac, err := emv.GenerateAC(key, data, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.cmd, err)
	}
	return []string{upperHex(ac)}, nil
}

func (c *Cmd) emvARPC(o *options) ([]string, error) {
	if err := o.require("key", "arqc", "method"); err != nil {
		return nil, err
	}
	method := o.get("method")
	switch method {
	case "1":
		if err := o.require("arc"); err != nil {
			return nil, err
		}
		if o.has("csu") || o.has("prop") {
			return nil, usagef("%s: --csu and --prop apply to --method 2 only", o.cmd)
		}
	case "2":
		if err := o.require("csu"); err != nil {
			return nil, err
		}
		if o.has("arc") {
			return nil, usagef("%s: --arc applies to --method 1 only", o.cmd)
		}
	default:
		return nil, usagef("%s: --method must be 1 or 2", o.cmd)
	}
	arqc, err := o.hexValue("arqc")
	if err != nil {
		return nil, err
	}
	key, err := o.hexValue("key")
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var arpc []byte
	if method == "1" {
		arc, err := o.hexValue("arc")
		if err != nil {
			return nil, err
		}
		arpc, err = emv.ARPCMethod1(key, arqc, arc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.cmd, err)
		}
	} else {
		csu, err := o.hexValue("csu")
		if err != nil {
			return nil, err
		}
		var prop []byte
		if o.has("prop") && strings.TrimSpace(o.get("prop")) != "" {
			if prop, err = o.hexValue("prop"); err != nil {
				return nil, err
			}
		}
		arpc, err = emv.ARPCMethod2(key, arqc, csu, prop)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.cmd, err)
		}
	}
	return []string{upperHex(arpc)}, nil
}
