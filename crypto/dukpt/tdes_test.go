package dukpt

import (
	"bytes"
	"errors"
	"fmt"
	"posd/internal/testhex"
	"testing"
)

// ANSI X9.24-1:2009 annex A.4 test data (also in openemv/dukpt
// test/dukpt_tdes_test.c): BDK, initial KSN, IK, and the clear PIN block
// (PIN 1234, PAN 4012345678909, ISO 9564 format 0).
const (
	annexBDK      = "0123456789ABCDEFFEDCBA9876543210"
	annexIKSN     = "FFFF9876543210E00000"
	annexIK       = "6AC292FAA1315B4D858AB3A3D7D5933A"
	annexPINBlock = "041274EDCBA9876F"
)

type tdesVector struct{ ksn, key, encPIN string }

// X9.24-1:2009 A.4.2, the initial sequence: KSN, transaction key, and the
// PIN block encrypted under the PIN variant.
var tdesInitial = []tdesVector{
	{"FFFF9876543210E00001", "042666B49184CFA368DE9628D0397BC9", "1B9C1845EB993A7A"},
	{"FFFF9876543210E00002", "C46551CEF9FD24B0AA9AD834130D3BC7", "10A01C8D02C69107"},
	{"FFFF9876543210E00003", "0DF3D9422ACA56E547676D07AD6BADFA", "18DC07B94797B466"},
	{"FFFF9876543210E00004", "279C0F6AEED0BE652B2C733E1383AE91", "0BC79509D5645DF7"},
	{"FFFF9876543210E00005", "5F8DC6D2C845C125508DDC048093B83F", "5BC0AF22AD87B327"},
	{"FFFF9876543210E00006", "5E415CB0BAF9F03CD0C14B63FB62FF43", "A16DF70AE36158D8"},
	{"FFFF9876543210E00007", "0C8F780B7C8B49D0AE84A9EB2A6CE660", "27711C16CB257F8E"},
	{"FFFF9876543210E00008", "27F66D5244FF62E1AA6F6120EDEB4280", "50E55547A5027551"},
	{"FFFF9876543210E00009", "27E31064FDC565698900E2057F658E7E", "536CF7F678ACFC8D"},
	{"FFFF9876543210E0000A", "6CF2500A22507C7CC776CEADC1E33014", "EDABBA23221833FE"},
	{"FFFF9876543210E0000B", "3E8260BA04B2D620C01482B3819A18B7", "2328981C57B4BDBA"},
	{"FFFF9876543210E0000C", "B716E1E11CF53D80726CAEE75C3A624F", "038D03CC926CF286"},
	{"FFFF9876543210E0000D", "E072EDF95340535FB6C581C58FBF2533", "6C8AA97088B62C68"},
	{"FFFF9876543210E0000E", "A80046087F5B8F245AAD95E18429084F", "F17C9E1D72CD4950"},
	{"FFFF9876543210E0000F", "93DD5B956C4878472E453AAEFD32A5AA", "B170F6E7F7F2F64A"},
	{"FFFF9876543210E00010", "59598DCBD9BD94C094165CE453585F57", "D5D9638559EF53D6"},
	{"FFFF9876543210E00011", "2B5F01F4F0CC05EA639D523231BF1BA2", "D544F8CDD292C863"},
	{"FFFF9876543210E00012", "9CF640F279C2AEE615F725EEEAC2CBAF", "7A21BD10F36DC41D"},
	{"FFFF9876543210E00013", "C3DF489FDF1153B4F03DE97C27DC4C2F", "78649BD17D0DFA60"},
	{"FFFF9876543210E00014", "658488507721B3F14737FA93F923CBD2", "7E7E16EA0C31AD56"},
	{"FFFF9876543210E00015", "E161D1956A61F6D2F37AFD7F9CC3699A", "72105C22EBC791E6"},
}

// X9.24-1:2009 A.4.3, the rollover sequence (the counter skips values with
// more than ten one-bits).
var tdesRollover = []tdesVector{
	{"FFFF9876543210EFF800", "F9CDFEBF4F5B1D9EB3EC12454527E176", "33365F5CC6F23C35"},
	{"FFFF9876543210EFF801", "5BEE92627E97825C911BF619DF72CA3B", "3A86BF003F835C9D"},
	{"FFFF9876543210EFF802", "64CA2F8AB93F61B01620B00BF77C7301", "3DB977D05C36DF3F"},
	{"FFFF9876543210EFF804", "35A168695B3BA83307E871C42021DD37", "BA83243305712099"},
	{"FFFF9876543210EFF808", "12C380FCB72ED3C26FC6079AF63F4787", "B0DA04AC90A36D85"},
	{"FFFF9876543210EFF810", "D8007C833A1E3C49C6889B97A68C54FF", "2CF02BD9C309EEDA"},
	{"FFFF9876543210EFF820", "A9C9FF9B735FDD49591F296B0BF0FD70", "9D1E2F77AEEE81C6"},
	{"FFFF9876543210EFF840", "0E3E221062CB5E03A384602783A004FA", "40870B0F8BA2011C"},
	{"FFFF9876543210EFF880", "CA8225C587124DFBB87F279C0BE29727", "22E340D6ABB40981"},
	{"FFFF9876543210EFF900", "906AAC1751D4971A144D52C76C6E1F97", "1A4C10AFBA03A430"},
	{"FFFF9876543210EFFA00", "2B9E2CE7C2750337E10B54D2989EA6AF", "849763B43E5F9CFF"},
	{"FFFF9876543210EFFC00", "F9430DF975082491C77BE4EF4FDB91EE", "DEFC6F09F8927B71"},
	{"FFFF9876543210F00000", "AA4D58DB653EC74A48C75F2F047DD2B5", "73EC88AD0AC5830E"},
}

func TestTDESDeriveIKAnnex(t *testing.T) {
	bdk := testhex.Bytes(t, annexBDK)
	// Any KSN of the device gives the same IK: the counter is masked.
	for _, ksn := range []string{annexIKSN, "FFFF9876543210E00003", "FFFF9876543210FFF800"} {
		ik, err := TDESDeriveIK(bdk, testhex.Bytes(t, ksn))
		if err != nil {
			t.Fatalf("TDESDeriveIK(%s): %v", ksn, err)
		}
		if testhex.Upper(ik) != annexIK {
			t.Errorf("TDESDeriveIK(%s) = %s, want %s", ksn, testhex.Upper(ik), annexIK)
		}
	}
}

func checkTDESVectors(t *testing.T, name string, vs []tdesVector) {
	bdk := testhex.Bytes(t, annexBDK)
	ik := testhex.Bytes(t, annexIK)
	pin := testhex.Bytes(t, annexPINBlock)
	for i, v := range vs {
		t.Run(fmt.Sprintf("%s/%d/%s", name, i, v.ksn), func(t *testing.T) {
			ksn := testhex.Bytes(t, v.ksn)
			want := testhex.Bytes(t, v.key)
			k1, err := TDESDeriveKey(bdk, ksn)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := TDESDeriveKeyFromIK(ik, ksn)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k1, want) || !bytes.Equal(k2, want) {
				t.Fatalf("key from BDK %s, from IK %s, want %s", testhex.Upper(k1), testhex.Upper(k2), v.key)
			}
			pk, err := TDESVariant(k1, VariantPIN)
			if err != nil {
				t.Fatal(err)
			}
			enc := make([]byte, 8)
			tdes2(t, pk).Encrypt(enc, pin)
			if testhex.Upper(enc) != v.encPIN {
				t.Fatalf("encrypted PIN block %s, want %s", testhex.Upper(enc), v.encPIN)
			}
		})
	}
}

func TestTDESAnnexInitialSequence(t *testing.T) { checkTDESVectors(t, "initial", tdesInitial) }
func TestTDESAnnexRollover(t *testing.T)        { checkTDESVectors(t, "rollover", tdesRollover) }

// TestTDESAnnexKSNSequence walks NextKSN from the initial KSN and through
// the rollover table: the KSNs must follow the annex exactly.
func TestTDESAnnexKSNSequence(t *testing.T) {
	for _, seq := range []struct {
		start string
		vs    []tdesVector
	}{{annexIKSN, tdesInitial}, {tdesRollover[0].ksn, tdesRollover[1:]}} {
		ksn := testhex.Bytes(t, seq.start)
		for _, v := range seq.vs {
			var err error
			ksn, err = NextKSN(ksn)
			if err != nil {
				t.Fatal(err)
			}
			if testhex.Upper(ksn) != v.ksn {
				t.Fatalf("NextKSN gave %s, want %s", testhex.Upper(ksn), v.ksn)
			}
		}
	}
}

// Data and MAC vectors for the annex KSNs, published in the tests of
// moov-io/dukpt (pkg/des/des_test.go; the data-request values are also in
// openemv/dukpt's tool tests). Data: ASCII "4012345678909D987" padded with
// zeros, TDES-CBC with zero IV under the data variant; MAC: ISO 9797-1
// algorithm 3 (X9.19) over the same padded data under the MAC variant.
var tdesDataMAC = []struct{ ksn, dataReq, dataResp, macReq, macResp string }{
	{"FFFF9876543210E00001", "FC0D53B7EA1FDA9EE68AAF2E70D9B9506229BE2AA993F04F", "1FCC89AF66222F27B903898BB2BC8589CDBFDE5EC6AFCC25", "9CCC78173FC4FB64", "20364223C1FF00FA"},
	{"FFFF9876543210E00002", "A2B4E70F846E63D68775B7215EB4563DFD3037244C61CC13", "5B692A6B1FDD5E25B0DEFAFDE1672E402F8011360CFF3508", "F608A9BCA6FFC311", "D1FCA6BEF05D24D2"},
	{"FFFF9876543210E00003", "BD751E65F10E75B6C1D5B1D283496A36C2DE21D993C387A7", "345992D4163E4926C927BFD8ABD5D76F087A9CE81D5A27B8", "20B59A4FEAC937E3", "BAD4CC9CC2AE326C"},
	{"FFFF9876543210E00004", "1118F50947441BBDA3C8C70220021A12EC31CC473F7215F4", "418C7413576C0D1819E785D3807AF32334231FDEC23414DB", "C7BFA6CC44161828", "1EB08AEECE6FF0C2"},
	{"FFFF9876543210E00005", "9FD7BD1EC28845ACA93367A9DA9317BD555C6B33AE22D365", "7D4C109E49E83355A556AE949EED359F4404E7A2F0167C00", "0202B96339022058", "5CBE3E81D1D2A0FB"},
}

func TestTDESDataAndMACVariants(t *testing.T) {
	bdk := testhex.Bytes(t, annexBDK)
	data := make([]byte, 24)
	copy(data, "4012345678909D987")
	for _, v := range tdesDataMAC {
		t.Run(v.ksn, func(t *testing.T) {
			key, err := TDESDeriveKey(bdk, testhex.Bytes(t, v.ksn))
			if err != nil {
				t.Fatal(err)
			}
			check := func(vr Variant, want string, f func(k []byte) []byte) {
				t.Helper()
				vk, err := TDESVariant(key, vr)
				if err != nil {
					t.Fatal(err)
				}
				if got := testhex.Upper(f(vk)); got != want {
					t.Errorf("%v: got %s, want %s", vr, got, want)
				}
			}
			enc := func(k []byte) []byte { return cbcEncrypt(t, tdes2(t, k), data) }
			mac := func(k []byte) []byte { return retailMAC(t, k, []byte("4012345678909D987")) }
			check(VariantDataRequest, v.dataReq, enc)
			check(VariantDataResponse, v.dataResp, enc)
			check(VariantMACRequest, v.macReq, mac)
			check(VariantMACResponse, v.macResp, mac)
		})
	}
}

func TestTDESVariantShape(t *testing.T) {
	key := testhex.Bytes(t, tdesInitial[0].key)
	orig := bytes.Clone(key)
	// The plain variants XOR FF into one byte of each half.
	for v, idx := range map[Variant]int{VariantPIN: 7, VariantMACRequest: 6, VariantMACResponse: 4} {
		got, err := TDESVariant(key, v)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			want := key[i]
			if i == idx || i == idx+8 {
				want ^= 0xFF
			}
			if got[i] != want {
				t.Fatalf("%v byte %d = %02X, want %02X", v, i, got[i], want)
			}
		}
	}
	if !bytes.Equal(key, orig) {
		t.Fatal("TDESVariant modified its input")
	}
	for _, v := range []Variant{0, 6, -1} {
		if _, err := TDESVariant(key, v); !errors.Is(err, ErrUsage) {
			t.Errorf("TDESVariant(%v) err = %v, want ErrUsage", v, err)
		}
	}
	if _, err := TDESVariant(key[:8], VariantPIN); !errors.Is(err, ErrKeyLength) {
		t.Errorf("short key err = %v, want ErrKeyLength", err)
	}
}

func TestTDESReceiverErrors(t *testing.T) {
	bdk := testhex.Bytes(t, annexBDK)
	ik := testhex.Bytes(t, annexIK)
	cases := []struct {
		name string
		f    func() error
		want error
	}{
		{"short BDK", func() error { _, err := TDESDeriveIK(bdk[:8], testhex.Bytes(t, annexIKSN)); return err }, ErrKeyLength},
		{"24-byte BDK", func() error {
			_, err := TDESDeriveKey(append(bdk, bdk[:8]...), testhex.Bytes(t, "FFFF9876543210E00001"))
			return err
		}, ErrKeyLength},
		{"short KSN", func() error { _, err := TDESDeriveIK(bdk, testhex.Bytes(t, "9876543210E00001")); return err }, ErrKSNLength},
		{"AES KSN", func() error {
			_, err := TDESDeriveKeyFromIK(ik, testhex.Bytes(t, "123456789012345600000001"))
			return err
		}, ErrKSNLength},
		{"short IK", func() error {
			_, err := TDESDeriveKeyFromIK(ik[:15], testhex.Bytes(t, "FFFF9876543210E00001"))
			return err
		}, ErrKeyLength},
		{"counter zero", func() error { _, err := TDESDeriveKey(bdk, testhex.Bytes(t, annexIKSN)); return err }, ErrKSNCounterZero},
		{"11 one-bits", func() error { _, err := TDESDeriveKey(bdk, testhex.Bytes(t, "FFFF9876543210EFFC01")); return err }, ErrKSNTooManyOnes},
	}
	for _, c := range cases {
		if err := c.f(); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}
