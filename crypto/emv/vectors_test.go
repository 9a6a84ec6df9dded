package emv

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"posd/internal/testhex"
)

// Certificates and signatures of two real test card chains, published in
// the tests of openemv/emv-utils at commit
// c29b155dcaafe74e3742f5daeaa55bf98c710f73:
//
//   - tests/emv_rsa_test.c: a Visa card (PAN 4761739001010119) under the
//     Visa test CAPK A000000003/94 (1984 bits): a 1408-bit issuer key
//     without remainder, SSAD, a 1408-bit ICC key with a 42-byte
//     remainder, and DDA SDAD over the DDOL data 7FBC4049.
//   - tests/emv_rsa_cda_test.c: a Mastercard card (PAN 5413330089020011)
//     under the Mastercard test CAPK A000000004/F1 (1408 bits): an 896-bit
//     issuer key, a 768-bit ICC key with a 26-byte remainder, and the CDA
//     SDAD of a GENERATE AC (AAC) over the unpredictable number 8B55633B.
//
// The recovered fields expected below are those emv-utils asserts. The
// static data to be authenticated of these cards was not published, so
// the hash of the SSAD and of the ICC certificates cannot be checked
// here: those tests recover with the hash check off (recoverICC,
// verifySSAD) and check the hash fields against the published ones; the
// SDAD of each card then verifies in full under the recovered ICC key,
// which proves the recovered modulus. The hash checks themselves are
// proven by the issuer certificates (whose hash covers no card data) and
// by the round trips of sign_test.go.
const (
	visaIssuerCert = "" +
		"665CD65C20DEAE638C7320EA011E5E2B33FC5070FF7D153D74FE9A01ABFF0B95" +
		"87B3779C524577F8A57C19923B39CD3F5CCDD457D360DC2619CDBB94328777BB" +
		"905E1CB79E280458F60C8C5593EFD22D6385512B11B7F2EAFE1184CF9066B9B4" +
		"7A0BF832045066359AE465473D31B9F830A6DE7D88E969CB456033F8073BEC51" +
		"2205920E3DEA773D3E36E1F46C2E8BDDC423FB675CA1710A3D0A06E9C7570919" +
		"735190BD6ED65BD5EF92C0416BFE4094EA96A218013838EF337151A8BE7222DC" +
		"F0717399553C4DDA16EBABB2DD386A07BDF313D970C1324CAAB885067691E3EE" +
		"5E5D8B912799BD53C8E1830237E9EC0A9254D80B2BD3622C"
	visaIssuerModulus = "" +
		"DDD9039ACC0BB00E8D6C1A11BD78C055758C5AB4CC6A3735A23DDFCF16A8F7BA" +
		"72B7060FD4A77A8F6CA5FB4F11300A671BF14DF26647DCB2DC1D018A78D0F7CB" +
		"CA854ECB03D32BEECEDFA849256CCB4B0392F3CC36B838EBFD244C11C58EF44E" +
		"D63196E6CD55E0AC7BCA87ED2CC4F475DC9999BA88BA0E00FA860D7763996ED8" +
		"A01701E2AC0D285B1198FC8485AADF043FAA3848ED869D6EB3D970F4AC08A974" +
		"74278842C85584E34B6FACC07207BC41"
	visaSSAD = "" +
		"30661BC4D33D38F913D48429E6760FD9BDF2D9172A22F30418A29138A2D35A47" +
		"3E2AE42A3A6E6EEDFBF99D6C8C21F12EB96FD717D67AE222DB53863257EC8D7D" +
		"649E40F2A64D18659B2FB45D893A995B88AEC4209975975E8DB3AC516D4CDF4A" +
		"26681C524F9EA5C3750283A2B8F4569F9A9672DE9B6ED2C529B9611B38F237C8" +
		"BDCFF088988CB2DD6599B8E62D4E77EE5386B892BE36B7BFB553A2BFDE900FB7" +
		"74C1A544CEB2C5A6CE9968927ED38B87"
	visaICCCert = "" +
		"A6CDB529A1D8CB538E19A277764C633F3C2F468A6A7CC3B5EF3F5B9838B79003" +
		"16A627927569F679EAE367E10160D7A1E08D9F20399F8B6FFE77A564B108DD92" +
		"4458A89D966C980D1E52A0093CA1CFA44CB3FCCF102632A799486B409C34C1F6" +
		"A3DCC3C1C0EE1C0F6E1EA7A33C1CDAEA9852AAA4B954D429C9EEDBF8803D6D15" +
		"9CAB6B8DCAB0694B5850D5F3C4014B45ABCB5B8F69BFC647D94F9E0039439A2D" +
		"5584DEAD27729C894615F62AE7AC8216"
	visaICCModulus = "" +
		"AB02DC02F1CB7D30113FE87A17D38D67A47CA6EC7A7AE10E6FE5B7D5800547B1" +
		"B21A2413DD18136126D8B00F021DC7E19CF513DD87149673B3764FF701454347" +
		"CCA9C8E310F9DB651DFDC9364F121002E5A795E3ECFB50678177CF4C15A11067" +
		"C1006E13AE77122934A38C11F429137A9AA9AF98610BC8B4979B3FC6BC85C34C" +
		"AFA2E1B818F54DD8A50B21B9CBF62BFAD4BB3F4CF6B5239F3FD23F8B93E96C84" +
		"C9CE67DFD70359153855A8F735CAFBE5"
	visaICCRemainder = "" +
		"4DD8A50B21B9CBF62BFAD4BB3F4CF6B5239F3FD23F8B93E96C84C9CE67DFD703" +
		"59153855A8F735CAFBE5"
	visaSDAD = "" +
		"7207EF0CB50E15CCA221CB77E81B7BCE11730216436CC828F0A9D72A16BCF1A0" +
		"B736768308CDD816872457CE835AF450BD6378F17A45C0861DB8D61208F1C394" +
		"FD08F1719492F281970A424546A564FD825C83CEE6F8F4987EFC431A641248C6" +
		"466296CBAE8ED35CE0286A5810792B0E99E575BBDBEA8F6979165097A3C6851A" +
		"12022E5B7A6F0A8AC41E794E6AF0CACF700BD7E045E103A62294F074E7E55A82" +
		"FC9EE7E8B8711A5D524667361941C1C9"
	mcIssuerCert = "" +
		"3312205B0EFA6715BA18134BB2168A9CA250D268853506D925DD72B2A2E0CF10" +
		"7518DE182F0089B255B7D70A189D90859E741E7D79BB5D36339B16D9B1508DDB" +
		"C35E2A3008B923E14417A42E86D3AD0A1AD6DBB394E7BC0BA812F3D4971412DE" +
		"4997C8B34BA93F3CE0F5AE27E0A052DB57CD7595C467E831041AC2DBEC91E2EC" +
		"8D27D4EABAA31322B769415B550B8B18E3B05B32CAE7813AB21D8F3B2BFF3741" +
		"C6AD967AE694800F5B24A20EF78013E4"
	mcIssuerModulus = "" +
		"99903295DA9DFA7CB84E664E6500E48A5A1D2EDD3F460BE4AD52066435A644C5" +
		"A803AE5B829C31B21E81889869BF98D73D9A126F222AC762298808EA0AFB94B3" +
		"3D8FE26AF363FAEACC3B1557CF31F7CCC996E430EA74F6936993C37F638538C0" +
		"75039AD3A8BAF26E44D25FADD3524107"
	mcICCCert = "" +
		"1BA49B6A034309AA5212D5D39EA0861983E295DFD0052FB0543E3743E4DF5D0C" +
		"D44FC3FABBC163727C2E3F64ACD670E4B8F1D5C5A6F9C42D6A02AD24F1D92206" +
		"61D78489FC89D3D2F017AE0EE080D43F620B863C25470AE8C2632FDA6421D424" +
		"C29E21653CC56BBBA65F851EBAF1F8C7"
	mcICCModulus = "" +
		"9000000000000000000000000012000000000000000000000000000000004800" +
		"0000000000000000000000000000001080000000000000000000000001980000" +
		"0000000000000000000000000006600000000000000000000000000000000055"
	mcSDAD = "" +
		"7B9F22B297CCEAD536B87C449EEE744C6971AA0EBDD6B611C88E30FFF0A671CC" +
		"6D6AC45A5555311E30C466863817EA0AA3D13B54BEA6849976592DFC73DED0BB" +
		"958D506DF7180FAA7A1FD0540859C0E539035BAB64CE8891353DDD3008A0B446"
)

// loadTestCAPKs reads testdata/capk_test_keys.json into a store.
func loadTestCAPKs(t testing.TB) *CAPKStore {
	t.Helper()
	b, err := os.ReadFile("testdata/capk_test_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	s := NewCAPKStore()
	if err := s.LoadJSON(b); err != nil {
		t.Fatal(err)
	}
	return s
}

func lookup(t testing.TB, s *CAPKStore, rid string, index byte) *CAPK {
	t.Helper()
	k, err := s.Lookup(testhex.Bytes(t, rid), index)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipLast returns b with its last byte changed, the way emv-utils builds
// its invalid_* vectors.
func flipLast(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 0x01
	return c
}

func TestVisaChainEmvUtils(t *testing.T) {
	ca := lookup(t, loadTestCAPKs(t), "A000000003", 0x94)
	e3 := []byte{3}

	ipk, err := RecoverIssuerPublicKey(ca.PublicKey, h(t, visaIssuerCert), nil, e3)
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(ipk.IssuerID[:]) != "476173FF" || ipk.Expiry != (MonthYear{0x12, 0x31}) ||
		testhex.Upper(ipk.SerialNumber[:]) != "03DA0A" || ipk.HashAlgorithm != 1 || ipk.PKAlgorithm != 1 {
		t.Errorf("issuer fields %X %v %X %d %d", ipk.IssuerID, ipk.Expiry, ipk.SerialNumber, ipk.HashAlgorithm, ipk.PKAlgorithm)
	}
	if testhex.Upper(ipk.Modulus) != visaIssuerModulus || !bytes.Equal(ipk.Exponent, e3) {
		t.Errorf("issuer key %X / %X", ipk.Modulus, ipk.Exponent)
	}
	if !ipk.MatchesPAN("4761739001010119") || ipk.MatchesPAN("4761749001010119") {
		t.Error("issuer identifier match")
	}
	// emv-utils: valid through 2031-12-31, expired on 2032-01-01.
	for _, c := range []struct {
		date    string
		expired bool
	}{{"311231", false}, {"320101", true}, {"220506", false}} {
		if got, err := ipk.Expiry.ExpiredOn(h(t, c.date)); err != nil || got != c.expired {
			t.Errorf("issuer expired on %s: %v %v", c.date, got, err)
		}
	}
	if _, err := RecoverIssuerPublicKey(ca.PublicKey, flipLast(h(t, visaIssuerCert)), nil, e3); err == nil {
		t.Error("invalid_issuer_cert recovered")
	}
	// emv-utils' invalid_icc_data gives the exponent as 010001.
	if _, err := RecoverIssuerPublicKey(ca.PublicKey, h(t, visaIssuerCert), nil, []byte{1, 0, 1}); !errors.Is(err, ErrExponent) {
		t.Errorf("wrong exponent: %v", err)
	}
	if _, err := RecoverIssuerPublicKey(ca.PublicKey, h(t, visaIssuerCert), []byte{1}, e3); !errors.Is(err, ErrRemainder) {
		t.Errorf("unneeded remainder: %v", err)
	}

	// SSAD: DAC DAC0 and the hash field emv-utils recovers.
	ssad, err := verifySSAD(ipk.PublicKey, h(t, visaSSAD), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if ssad.DAC != [2]byte{0xDA, 0xC0} || ssad.HashAlgorithm != 1 {
		t.Errorf("SSAD %+v", ssad)
	}
	checkHashField(t, ipk.PublicKey, h(t, visaSSAD), "4E2821974D704E338E7218F887763F7BDCE2B814")
	if _, err := VerifySSAD(ipk.PublicKey, h(t, visaSSAD), []byte("not the static data")); !errors.Is(err, ErrHash) {
		t.Errorf("SSAD over other data: %v", err)
	}
	if _, err := VerifySSAD(ipk.PublicKey, flipLast(h(t, visaSSAD)), nil); err == nil || errors.Is(err, ErrHash) {
		t.Errorf("invalid_enc_ssad: %v", err)
	}

	// ICC certificate.
	rem := h(t, visaICCRemainder)
	icc, err := recoverICC(ipk.PublicKey, h(t, visaICCCert), rem, e3, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(icc.PAN[:]) != "4761739001010119FFFF" || icc.Expiry != (MonthYear{0x12, 0x22}) ||
		testhex.Upper(icc.SerialNumber[:]) != "000001" || icc.HashAlgorithm != 1 || icc.PKAlgorithm != 1 {
		t.Errorf("ICC fields %X %v %X", icc.PAN, icc.Expiry, icc.SerialNumber)
	}
	if testhex.Upper(icc.Modulus) != visaICCModulus || !bytes.Equal(icc.Exponent, e3) {
		t.Errorf("ICC key %X", icc.Modulus)
	}
	if !icc.MatchesPAN("4761739001010119") || icc.MatchesPAN("476173900101011") {
		t.Error("ICC PAN match")
	}
	// emv-utils: expired on 2032-01-01 (and 2031-12-31), valid on 2022-05-06.
	if exp, _ := icc.Expiry.ExpiredOn(h(t, "220506")); exp {
		t.Error("ICC certificate expired in 2022")
	}
	if exp, _ := icc.Expiry.ExpiredOn(h(t, "311231")); !exp {
		t.Error("ICC certificate valid in 2031")
	}
	checkHashField(t, ipk.PublicKey, h(t, visaICCCert), "B8D9B5F7A12DC0D77FC0B2F7BBACA514939CAD60")
	if _, err := RecoverICCPublicKey(ipk.PublicKey, h(t, visaICCCert), rem, e3, nil); !errors.Is(err, ErrHash) {
		t.Errorf("ICC certificate without its static data: %v", err)
	}
	if _, err := RecoverICCPublicKey(ipk.PublicKey, h(t, visaICCCert), rem[:41], e3, nil); !errors.Is(err, ErrRemainder) {
		t.Errorf("short remainder: %v", err)
	}
	if _, err := RecoverICCPublicKey(ipk.PublicKey, h(t, visaICCCert), nil, e3, nil); !errors.Is(err, ErrRemainder) {
		t.Errorf("missing remainder: %v", err)
	}
	if _, err := recoverICC(ipk.PublicKey, flipLast(h(t, visaICCCert)), rem, e3, nil, false); err == nil {
		t.Error("invalid_icc_cert recovered")
	}

	// DDA: fully checked, hash included.
	dd, err := VerifySDAD(icc.PublicKey, h(t, visaSDAD), h(t, "7FBC4049"))
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(dd.ICCDynamicNumber) != "00AE" || testhex.Upper(dd.ICCDynamicData) != "0200AE" || dd.HashAlgorithm != 1 {
		t.Errorf("SDAD %+v", dd)
	}
	checkHashField(t, icc.PublicKey, h(t, visaSDAD), "17C21AAA9A2F1C434B3143BCD59B89174A0469D2")
	if _, err := VerifySDAD(icc.PublicKey, h(t, visaSDAD), h(t, "7FBC404A")); !errors.Is(err, ErrHash) {
		t.Errorf("SDAD with another unpredictable number: %v", err)
	}
	if _, err := VerifySDAD(icc.PublicKey, flipLast(h(t, visaSDAD)), h(t, "7FBC4049")); err == nil {
		t.Error("invalid_enc_sdad verified")
	}
	// emv-utils' invalid_icc_data has the remainder's last byte E6, not
	// E5: an even modulus, refused. With E7 the key is merely wrong, and
	// the SDAD fails under it.
	wrongRem := bytes.Clone(rem)
	wrongRem[len(wrongRem)-1] = 0xE6
	if _, err := recoverICC(ipk.PublicKey, h(t, visaICCCert), wrongRem, e3, nil, false); !errors.Is(err, ErrPublicKey) {
		t.Errorf("even ICC modulus: %v", err)
	}
	wrongRem[len(wrongRem)-1] = 0xE7
	bad, err := recoverICC(ipk.PublicKey, h(t, visaICCCert), wrongRem, e3, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySDAD(bad.PublicKey, h(t, visaSDAD), h(t, "7FBC4049")); err == nil {
		t.Error("SDAD verified under a wrong ICC key")
	}
}

func TestMastercardCDAChainEmvUtils(t *testing.T) {
	ca := lookup(t, loadTestCAPKs(t), "A000000004", 0xF1)
	e3 := []byte{3}

	ipk, err := RecoverIssuerPublicKey(ca.PublicKey, h(t, mcIssuerCert), nil, e3)
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(ipk.IssuerID[:]) != "541333FF" || ipk.Expiry != (MonthYear{0x12, 0x27}) ||
		testhex.Upper(ipk.SerialNumber[:]) != "000001" || len(ipk.Modulus) != 112 {
		t.Errorf("issuer fields %X %v %X %d", ipk.IssuerID, ipk.Expiry, ipk.SerialNumber, len(ipk.Modulus))
	}
	if testhex.Upper(ipk.Modulus) != mcIssuerModulus {
		t.Errorf("issuer key %X", ipk.Modulus)
	}
	if !ipk.MatchesPAN("5413330089020011") {
		t.Error("issuer identifier match")
	}
	if exp, err := ipk.Expiry.ExpiredOn(h(t, "250506")); exp || err != nil {
		t.Errorf("issuer expired on 2025-05-06: %v", err)
	}

	rem := h(t, "0000000000000006600000000000000000000000000000000055")
	icc, err := recoverICC(ipk.PublicKey, h(t, mcICCCert), rem, e3, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(icc.PAN[:]) != "5413330089020011FFFF" || icc.Expiry != (MonthYear{0x12, 0x27}) ||
		testhex.Upper(icc.SerialNumber[:]) != "000001" || testhex.Upper(icc.Modulus) != mcICCModulus {
		t.Errorf("ICC fields %X %v %X %X", icc.PAN, icc.Expiry, icc.SerialNumber, icc.Modulus)
	}
	checkHashField(t, ipk.PublicKey, h(t, mcICCCert), "91566E18006E2CBA8D286484A9E6BA9E32B48D1E")

	d, err := VerifyCDA(icc.PublicKey, h(t, mcSDAD), h(t, "8B55633B"))
	if err != nil {
		t.Fatal(err)
	}
	if testhex.Upper(d.ICCDynamicNumber) != "537EB5E03CC433C8" || d.CID != 0x00 ||
		testhex.Upper(d.AC) != "55B6408DBC985131" ||
		testhex.Upper(d.TxnDataHash) != "A04620C52455EA8F2370647AF36748A2CA4AA9F6" {
		t.Errorf("CDA %X %02X %X %X", d.ICCDynamicNumber, d.CID, d.AC, d.TxnDataHash)
	}
	checkHashField(t, icc.PublicKey, h(t, mcSDAD), "4A0162C20A8E535D79978A54AF529CAAA3590488")
	if _, err := VerifyCDA(icc.PublicKey, flipLast(h(t, mcSDAD)), h(t, "8B55633B")); err == nil {
		t.Error("invalid_enc_sdad verified")
	}
	if _, err := VerifyCDA(icc.PublicKey, h(t, mcSDAD), h(t, "8B55633C")); !errors.Is(err, ErrHash) {
		t.Errorf("other unpredictable number: %v", err)
	}
	// The same signature read as DDA: the hash holds, the CDA fields are
	// simply not split out.
	dd, err := VerifySDAD(icc.PublicKey, h(t, mcSDAD), h(t, "8B55633B"))
	if err != nil || dd.AC != nil || len(dd.ICCDynamicData) != 1+8+1+8+20 {
		t.Errorf("as DDA: %+v %v", dd, err)
	}
}

// checkHashField recovers sig and compares the hash field (the 20 bytes
// before the trailer) with want.
func checkHashField(t *testing.T, k PublicKey, sig []byte, want string) {
	t.Helper()
	rec, err := k.Recover(sig)
	if err != nil {
		t.Fatal(err)
	}
	if got := testhex.Upper(rec[len(rec)-21 : len(rec)-1]); got != want {
		t.Errorf("hash field %s, want %s", got, want)
	}
}

// The CAPK checksums published with the test keys (emv-utils
// src/emv_capk_static_data.h, the same values appear in many terminal
// parameter sets) equal SHA-1(RID || index || modulus || exponent).
func TestCAPKTestKeysChecksums(t *testing.T) {
	s := loadTestCAPKs(t)
	if s.Len() != 11 {
		t.Fatalf("%d keys, want 11", s.Len())
	}
	want := map[string]string{
		"A000000003/92": "429C954A3859CEF91295F663C963E582ED6EB253",
		"A000000003/94": "C4A3C43CCF87327D136B804160E47D43B60E6E0F",
		"A000000003/95": "EE1511CEC71020A9B90443B37B1D5F6E703030F6",
		"A000000003/99": "4ABFFD6B1C51212D05552E431C5B17007D2F5E6D",
		"A000000004/EF": "21766EBB0EE122AFB65D7845B73DB46BAB65427A",
		"A000000004/F1": "D8E68DA167AB5A85D8C3D55ECB9B0517A1A5B4BB",
		"A000000004/F3": "A69AC7603DAF566E972DEDC2CB433E07E8B01A9A",
		"A000000004/F4": "BF6B5B9C47134E494571732A4903C935874682B9",
		"A000000004/F5": "C2239804C8098170BE52D6D5D4159E81CE8466BF",
		"A000000004/F8": "F06ECC6D2AAEBF259B7E755A38D9A9B24E2FF3DD",
		"A000000004/FA": "5BED4068D96EA16D2D77E03D6036FC7A160EA99C",
	}
	for _, k := range s.All() {
		w, ok := want[k.name()]
		if !ok {
			t.Errorf("unexpected key %s", k.name())
			continue
		}
		if got := testhex.Upper(k.ComputeChecksum()); got != w {
			t.Errorf("%s checksum %s, want %s", k.name(), got, w)
		}
	}
}
