package emv

import (
	"errors"
	"strings"
	"testing"

	"posd/internal/testhex"
)

// The issuer master key of every pyemv vector; its check digits 08D7 are
// asserted in each pyemv test.
const pyemvIMK = "0123456789ABCDEFFEDCBA9876543210"

// Full ICC master keys from the examples of knovichikhin/pyemv
// pyemv/kd.py (derive_icc_mk_a and derive_icc_mk_b docstrings, checked by
// its doctests; commit cf6b82d7a1e1b57c87d18a2caae2115f8b3e4309).
func TestICCMasterKeyPyemvExamples(t *testing.T) {
	for _, c := range []struct {
		pan, psn string
		opt      MKOption
		want     string
	}{
		{"99012345678901234", "45", OptionA, "67F8292358083E5EA7AB7FDA58D53B6B"},
		{"12345678901234567", "01", OptionA, "73AD54688CEF2934B0979857E3C719F1"},
		{"12345678901234567", "01", OptionB, "AD406D7F6D7570916D75E5DCAB8CF737"},
		// The rule by PAN length picks B for 17 digits.
		{"12345678901234567", "01", OptionAuto, "AD406D7F6D7570916D75E5DCAB8CF737"},
	} {
		mk, err := DeriveICCMasterKey(h(t, pyemvIMK), c.pan, c.psn, c.opt)
		if err != nil {
			t.Fatalf("%s/%s %v: %v", c.pan, c.psn, c.opt, err)
		}
		if got := testhex.Upper(mk); got != c.want {
			t.Errorf("%s/%s %v: %s, want %s", c.pan, c.psn, c.opt, got, c.want)
		}
	}
}

// Chains of knovichikhin/pyemv tests/test_kd_hsm.py and tests/test_ac_hsm.py
// (same commit): ICC master key, common session key from an 8-byte R,
// AC over 0123456789ABCDEF0123456789ABCDEF (or the data given), and ARPC.
// pyemv asserts keys by their check digits (the first two bytes of
// E(key, 0)); the cryptograms are full.
func TestPyemvChains(t *testing.T) {
	type chain struct {
		name     string
		pan, psn string
		opt      MKOption
		mkKCV    string // "" when the test asserts none
		r        string
		skKCV    string
		data     string
		pad      Padding
		ac       string
		arpcKey  string // "mk" or "sk"
		arc      string // method 1 when set
		csu      string // method 2 when set
		prop     string
		arpc     string
	}
	const data16 = "0123456789ABCDEF0123456789ABCDEF"
	for _, c := range []chain{
		// test_kd_hsm.py
		{"test_derive_icc_mk_a_psn", "12345678901234567", "45", OptionA, "FF08", "1234567890123456", "DF82", data16, Padding2, "19C1FBC83EBDC0D5", "mk", "0000", "", "", "78A372523FA35A03"},
		{"test_derive_icc_mk_a_no_psn", "12345678901234567", "", OptionA, "", "1234567890123456", "3F4F", data16, Padding2, "8698A7319324FD93", "mk", "0000", "", "", "BEA11C8F4A47EF6F"},
		{"test_derive_common_sk", "12345678901234567", "45", OptionA, "FF08", "1234567890123456", "DF82", data16, Padding2, "19C1FBC83EBDC0D5", "sk", "0000", "", "", "C3620580668E5B65"},
		{"test_derive_icc_mk_b_pan16", "1234567890123456", "", OptionB, "BAB0", "1234567890123456", "BC19", data16, Padding2, "0CE77D211CB5459A", "sk", "", "00000000", "", "8CD9AA5D"},
		{"test_derive_icc_mk_b_pan17_psn", "12345678901234567", "45", OptionB, "0BAF", "1234567890123456", "4262", data16, Padding2, "5760EE07B4FA65D1", "sk", "", "00000000", "", "106B81D9"},
		{"test_derive_icc_mk_b_pan17_no_psn", "12345678901234567", "", OptionB, "4626", "1234567890123456", "7F36", data16, Padding2, "0BAA251EA8989442", "sk", "", "00000000", "", "C1C41F3A"},
		{"test_derive_icc_mk_b_pan18", "123456789012345679", "00", OptionB, "C2F3", "1234567890123456", "7C35", data16, Padding2, "DC95BCE3EBBE0296", "sk", "", "00000000", "", "ECCA0C4B"},
		// SHA-1 of this PAN gives fewer than 16 decimal digits: the
		// letters are decimalised.
		{"test_derive_icc_mk_b_sha_pad", "000000000000000005", "23", OptionB, "DD73", "001C000000000000", "04F8",
			"00000000400000000000000001248000048000012" + "41911050152BF45851800001C06011203A0B800", Padding2, "8CAD6F2489C640B1", "sk", "", "00000000", "12345678", "E39F1876"},
		// test_ac_hsm.py
		{"test_generate_ac_emv_arpc1", "9901234567890123", "45", OptionA, "1DA5", "1234567890123456", "0995", data16, Padding2, "4B46013359B7A58B", "mk", "0000", "", "", "F8C9CECAABD55AD1"},
		{"test_generate_ac_visa_aprc1", "9901234567890123", "45", OptionA, "1DA5", "1234567890123456", "0995", data16 + "01", Padding1, "2E141C6BC4A20DA8", "mk", "0000", "", "", "16A49AAB314B9262"},
		{"test_generate_ac_visa_aprc1_no_padding_required", "9901234567890123", "45", OptionA, "1DA5", "1234567890123456", "0995", data16, Padding1, "922F3E83125EB46B", "mk", "0000", "", "", "8AE6E836084B0E80"},
		{"test_generate_arpc2", "9901234567890123", "45", OptionA, "1DA5", "1234567890123456", "0995", data16, Padding2, "4B46013359B7A58B", "sk", "", "00000000", "1234567890ABCDEF", "4962B76C"},
		{"test_generate_arpc2_no_prop_auth_data", "9901234567890123", "45", OptionA, "1DA5", "1234567890123456", "0995", data16, Padding2, "4B46013359B7A58B", "sk", "", "00000000", "", "7DFB1188"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk, err := DeriveICCMasterKey(h(t, pyemvIMK), c.pan, c.psn, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if c.mkKCV != "" {
				if got := checkDigits(t, mk, 2); got != c.mkKCV {
					t.Errorf("ICC MK check digits %s, want %s", got, c.mkKCV)
				}
			}
			sk, err := CommonSessionKey(mk, h(t, c.r))
			if err != nil {
				t.Fatal(err)
			}
			if got := checkDigits(t, sk, 2); got != c.skKCV {
				t.Errorf("session key check digits %s, want %s", got, c.skKCV)
			}
			ac, err := GenerateAC(sk, h(t, c.data), c.pad)
			if err != nil {
				t.Fatal(err)
			}
			if got := testhex.Upper(ac); got != c.ac {
				t.Errorf("AC %s, want %s", got, c.ac)
			}
			if err := VerifyAC(sk, h(t, c.data), c.pad, ac); err != nil {
				t.Errorf("VerifyAC: %v", err)
			}
			key := sk
			if c.arpcKey == "mk" {
				key = mk
			}
			var arpc []byte
			if c.arc != "" {
				arpc, err = ARPCMethod1(key, ac, h(t, c.arc))
			} else {
				arpc, err = ARPCMethod2(key, ac, h(t, c.csu), h(t, c.prop))
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := testhex.Upper(arpc); got != c.arpc {
				t.Errorf("ARPC %s, want %s", got, c.arpc)
			}
		})
	}
}

// The transaction data of the cryptogram version tests of
// knovichikhin/pyemv tests/test_cvn_hsm.py (same commit): issuer master
// key 0123456789ABCDEFFEDCBA9876543210, PAN 1234567890123456, PSN 00
// (ICC MK check digits BAB0), ATC 001C. These pin the ATC-based session
// key methods, which pyemv builds as R = ATC || 00*6 (common) and R = ATC
// || 00 00 || UN (Mastercard) and asserts by check digits.
func TestPyemvCryptogramVersions(t *testing.T) {
	// CDOL-like data common to the Visa vectors: 9F02 9F03 9F1A 95 5F2A
	// 9A 9C 9F37 82 9F36.
	const visa = "000000004000" + "000000000000" + "0124" + "8000048000" + "0124" + "191105" + "01" + "52BF4585" + "1800" + "001C"
	// The same for the Mastercard and Interac vectors, UN ABCDEF12.
	const mc = "000000009999" + "000000000000" + "0124" + "8000000000" + "0124" + "209906" + "00" + "ABCDEF12" + "1800" + "001C"
	for _, c := range []struct {
		name    string
		method  SKDMethod
		skKCV   string
		data    string
		pad     Padding
		ac      string
		arpcKey string // "mk" or "sk"
		arc     string
		csu     string
		arpc    string
	}{
		// Visa CVN 10: no session key, zero padding, data ends with the CVR.
		{"test_visa_cvn10", SKDNone, "BAB0", visa + "03A06010", Padding1, "29CCA15AE665FA2E", "mk", "3030", "", "28993816AFAE4AEB"},
		// Visa CVN 18 (and 22): common session key, data ends with 9F10.
		{"test_visa_cvn18", SKDCommon, "22C8", visa + "06011203A0B800", Padding2, "7A788EA6B8A3E733", "sk", "", "00000000", "9AF514C1"},
		// Interac CVN 133: Mastercard SKD, ARPC method 1 under the session key.
		{"test_interac_cvn133", SKDMastercard, "2FD5", mc + "1501850440B100000000B00000000000000000000000", Padding2, "18932FECA2D84326", "sk", "0000", "", "4DF171A49396C363"},
		// M/Chip CVN 16 and 17: Mastercard SKD; ARPC under the ICC MK.
		{"test_mastercard_cvn16", SKDMastercard, "2FD5", mc + "A00003220000", Padding2, "24CCF3DEE3158C70", "mk", "0010", "", "73F6BBF389A6586C"},
		{"test_mastercard_cvn17", SKDMastercard, "2FD5", mc + "A00003220000" + "00000000000322FF", Padding2, "EAE8A620A75648D8", "mk", "0010", "", "29CF11FBDB9CA650"},
		// M/Chip CVN 20 and 21: common session key for AC and ARPC.
		{"test_mastercard_cvn20", SKDCommon, "22C8", mc + "A00003220000", Padding2, "CD29615D6452E70E", "sk", "0010", "", "DFD0956606B68D64"},
		{"test_mastercard_cvn21", SKDCommon, "22C8", mc + "A00003220000" + "00000000000322FF", Padding2, "C30E54BE496CF5E5", "sk", "0010", "", "4F51F9CC63CE8B3C"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk, err := DeriveICCMasterKey(h(t, pyemvIMK), "1234567890123456", "00", OptionAuto)
			if err != nil {
				t.Fatal(err)
			}
			if got := checkDigits(t, mk, 2); got != "BAB0" {
				t.Fatalf("ICC MK check digits %s, want BAB0", got)
			}
			var un []byte
			if c.method == SKDMastercard {
				un = h(t, "ABCDEF12")
			}
			sk, err := DeriveSessionKey(c.method, mk, h(t, "001C"), un)
			if err != nil {
				t.Fatal(err)
			}
			if got := checkDigits(t, sk, 2); got != c.skKCV {
				t.Errorf("session key check digits %s, want %s", got, c.skKCV)
			}
			ac, err := GenerateAC(sk, h(t, c.data), c.pad)
			if err != nil {
				t.Fatal(err)
			}
			if got := testhex.Upper(ac); got != c.ac {
				t.Errorf("AC %s, want %s", got, c.ac)
			}
			key := sk
			if c.arpcKey == "mk" {
				key = mk
			}
			var arpc []byte
			if c.arc != "" {
				arpc, err = ARPCMethod1(key, ac, h(t, c.arc))
			} else {
				arpc, err = ARPCMethod2(key, ac, h(t, c.csu), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := testhex.Upper(arpc); got != c.arpc {
				t.Errorf("ARPC %s, want %s", got, c.arpc)
			}
		})
	}
}

// Full session keys and cryptograms from the docstring examples of
// knovichikhin/pyemv (kd.derive_common_sk, the module example of
// pyemv/ac.py, ac.generate_ac, ac.generate_arpc_1, ac.generate_arpc_2),
// and the module example of pyemv/cvn.py (Visa CVN 18, issuer MK all AA,
// PAN 1234567890123456, PSN 00, ATC 0FFF).
func TestPyemvExamples(t *testing.T) {
	// Common session key with R = ATC 001C || zeros.
	sk, err := DeriveSessionKey(SKDCommon, h(t, pyemvIMK), h(t, "001C"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := testhex.Upper(sk); got != "E9FB384AF807B940FEDCEA613461B0C4" {
		t.Errorf("common session key %s", got)
	}

	sk = h(t, "29B33180E567CE38EA4CBC9D753B0E61")
	ac, err := GenerateAC(sk, h(t, "0123456789ABCDEF0123456789ABCDEF"), Padding2)
	if err != nil || testhex.Upper(ac) != "FA624250B008B59A" {
		t.Errorf("module example AC %X %v", ac, err)
	}
	a1, err := ARPCMethod1(sk, ac, h(t, "0000"))
	if err != nil || testhex.Upper(a1) != "45D4255EEF10C920" {
		t.Errorf("module example ARPC 1 %X %v", a1, err)
	}
	a2, err := ARPCMethod2(sk, ac, h(t, "00000000"), nil)
	if err != nil || testhex.Upper(a2) != "CB56FA40" {
		t.Errorf("module example ARPC 2 %X %v", a2, err)
	}

	sk = h(t, "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB")
	data := "000000002000" + "000000000000" + "0124" + "0000008000" + "0124" + "110309" + "00" + "3804823E" + "5800" + "0001"
	ac, err = GenerateAC(sk, h(t, data), Padding2)
	if err != nil || testhex.Upper(ac) != "3B76CF10FECD8789" {
		t.Errorf("generate_ac example %X %v", ac, err)
	}
	a1, err = ARPCMethod1(sk, h(t, "1234567890ABCDEF"), h(t, "0000"))
	if err != nil || testhex.Upper(a1) != "F5E6F44147E2F1B0" {
		t.Errorf("generate_arpc_1 example %X %v", a1, err)
	}
	a2, err = ARPCMethod2(sk, h(t, "1234567890ABCDEF"), h(t, "00000000"), nil)
	if err != nil || testhex.Upper(a2) != "9308BEBC" {
		t.Errorf("generate_arpc_2 example %X %v", a2, err)
	}

	mk, err := DeriveICCMasterKey(h(t, strings.Repeat("AA", 16)), "1234567890123456", "00", OptionB)
	if err != nil {
		t.Fatal(err)
	}
	sk, err = DeriveSessionKey(SKDCommon, mk, h(t, "0FFF"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cvn18 := "000000009999" + "000000000000" + "0840" + "8000048000" + "0840" + "991231" + "01" + "52BF4585" + "1800" + "0FFF" + "06011203A0B800"
	ac, err = GenerateAC(sk, h(t, cvn18), Padding2)
	if err != nil || testhex.Upper(ac) != "769577B5ABE9FE62" {
		t.Errorf("cvn.py CVN 18 example AC %X %v", ac, err)
	}
	a2, err = ARPCMethod2(sk, ac, h(t, "00000000"), nil)
	if err != nil || testhex.Upper(a2) != "76503F48" {
		t.Errorf("cvn.py CVN 18 example ARPC %X %v", a2, err)
	}
}

// Mastercard SKD is the common derivation with R = ATC || 00 00 || UN;
// option A zero pads short PANs. Independent computations.
func TestDerivationsStructure(t *testing.T) {
	mk := h(t, pyemvIMK)
	a, err := DeriveSessionKey(SKDMastercard, mk, h(t, "1234"), h(t, "9ABCDEF0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := CommonSessionKey(mk, h(t, "123400009ABCDEF0"))
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(a) != testhex.Upper(b) {
		t.Errorf("Mastercard SKD %X, common with R=ATC||0000||UN %X", a, b)
	}
	none, err := DeriveSessionKey(SKDNone, mk, nil, nil)
	if err != nil || testhex.Upper(none) != pyemvIMK {
		t.Errorf("none: %X %v", none, err)
	}
	none[0] ^= 1
	if mk[0] != 0x01 {
		t.Error("SKDNone returned the caller's slice")
	}
	// A 10-digit PAN and PSN 07: Y = 000012345678 9007 zero padded left.
	short, err := DeriveICCMasterKey(mk, "1234567890", "07", OptionA)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := deriveFromY(mk, h(t, "0000123456789007"))
	if err != nil || testhex.Upper(short) != testhex.Upper(direct) {
		t.Errorf("short PAN: %X vs %X (%v)", short, direct, err)
	}
	// Option B of a PAN of 16 digits is option A.
	x, _ := DeriveICCMasterKey(mk, "5413330089020011", "01", OptionA)
	y, _ := DeriveICCMasterKey(mk, "5413330089020011", "01", OptionB)
	if testhex.Upper(x) != testhex.Upper(y) {
		t.Error("option B of a 16-digit PAN differs from option A")
	}
	// Every derived key has odd parity.
	for _, k := range [][]byte{a, b, short, x} {
		for _, v := range k {
			ones := 0
			for i := 0; i < 8; i++ {
				ones += int(v >> i & 1)
			}
			if ones%2 != 1 {
				t.Fatalf("byte %02X of %X has even parity", v, k)
			}
		}
	}
}

func TestKeyErrors(t *testing.T) {
	mk := h(t, pyemvIMK)
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"short imk", second(DeriveICCMasterKey(mk[:8], "1234567890123456", "00", OptionA)), ErrKeyLength},
		{"pan letters", second(DeriveICCMasterKey(mk, "12345678901234AB", "00", OptionA)), ErrPAN},
		{"pan empty", second(DeriveICCMasterKey(mk, "", "00", OptionA)), ErrPAN},
		{"pan 20 digits", second(DeriveICCMasterKey(mk, strings.Repeat("1", 20), "00", OptionB)), ErrPAN},
		{"psn 1 digit", second(DeriveICCMasterKey(mk, "1234567890123456", "1", OptionA)), ErrPAN},
		{"psn letters", second(DeriveICCMasterKey(mk, "1234567890123456", "0A", OptionA)), ErrPAN},
		{"option", second(DeriveICCMasterKey(mk, "1234567890123456", "00", MKOption(7))), ErrMethod},
		{"sk method", second(DeriveSessionKey(SKDMethod(9), mk, h(t, "0001"), nil)), ErrMethod},
		{"sk atc", second(DeriveSessionKey(SKDCommon, mk, h(t, "01"), nil)), ErrFieldLength},
		{"sk common un", second(DeriveSessionKey(SKDCommon, mk, h(t, "0001"), h(t, "01020304"))), ErrFieldLength},
		{"sk mc un", second(DeriveSessionKey(SKDMastercard, mk, h(t, "0001"), h(t, "010203"))), ErrFieldLength},
		{"sk key", second(DeriveSessionKey(SKDNone, mk[:15], nil, nil)), ErrKeyLength},
		{"csk r", second(CommonSessionKey(mk, h(t, "01020304"))), ErrFieldLength},
		{"csk key", second(CommonSessionKey(append(mk, mk[:8]...), h(t, "0102030405060708"))), ErrKeyLength},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
		if c.err != nil && strings.Contains(strings.ToUpper(c.err.Error()), "0123456789ABCDEF") {
			t.Errorf("%s: error carries key bytes: %v", c.name, c.err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
