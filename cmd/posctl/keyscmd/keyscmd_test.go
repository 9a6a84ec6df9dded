package keyscmd

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// run calls Run with buffers and returns exit status, stdout and stderr.
func run(c *Cmd, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := c.Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

const (
	// ANSI X9.24-1:2009 annex A.4.
	tdesBDK  = "0123456789ABCDEFFEDCBA9876543210"
	tdesIKSN = "FFFF9876543210E00000"
	tdesIK   = "6AC292FAA1315B4D858AB3A3D7D5933A"
	// ANSI X9.24-3:2017 supplement, AES-128 BDK.
	aesBDK  = "FEDCBA9876543210F1F1F1F1F1F1F1F1"
	aesIKSN = "123456789012345600000000"
	aesIK   = "1273671EA26AC29AFA4D1084127652A1"
)

// The data of the X9.24 sample messages: ASCII "4012345678909D987".
var sampleData = strings.ToUpper(hex.EncodeToString([]byte("4012345678909D987")))

func TestPublishedVectors(t *testing.T) {
	tests := []struct {
		name string
		rnd  string // hex fill for PIN blocks / key blocks, if the command uses it
		args []string
		want []string
	}{
		// TDES DUKPT, X9.24-1:2009 A.4 (also in openemv/dukpt and moov-io/dukpt).
		// The data vectors are zero padded: --padding 1, not the terminal's.
		{"tdes ik", "", []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", tdesIKSN}, []string{tdesIK}},
		{"tdes ik any counter", "", []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", strings.ToLower(tdesBDK), "--ksn", "FFFF9876543210E00008"}, []string{tdesIK}},
		{"tdes txn key 1 bdk", "", []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00001"}, []string{"042666B49184CFA368DE9628D0397BC9"}},
		{"tdes txn key 2 ik", "", []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--ik", tdesIK, "--ksn", "FFFF9876543210E00002"}, []string{"C46551CEF9FD24B0AA9AD834130D3BC7"}},
		{"tdes txn key 5", "", []string{"dukpt", "derive-txn-key", "--mode=tdes", "--bdk=" + tdesBDK, "--ksn=FFFF9876543210E00005"}, []string{"5F8DC6D2C845C125508DDC048093B83F"}},
		{"tdes pin 1", "", []string{"dukpt", "encrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00001", "--pin", "1234", "--pan", "4012345678909"}, []string{"1B9C1845EB993A7A"}},
		{"tdes pin 3 ik", "", []string{"dukpt", "encrypt-pin", "--mode", "tdes", "--ik", tdesIK, "--ksn", "FFFF9876543210E00003", "--pin", "1234", "--pan", "4012345678909"}, []string{"18DC07B94797B466"}},
		{"tdes decrypt pin 2", "", []string{"dukpt", "decrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00002", "--pinblock", "10A01C8D02C69107", "--pan", "4012345678909"}, []string{"1234"}},
		{"tdes data request 1", "", []string{"dukpt", "encrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00001", "--padding", "1", "--data", sampleData}, []string{"FC0D53B7EA1FDA9EE68AAF2E70D9B9506229BE2AA993F04F"}},
		{"tdes data request 2", "", []string{"dukpt", "encrypt-request", "--mode", "tdes", "--ik", tdesIK, "--ksn", "FFFF9876543210E00002", "--padding", "1", "--data", sampleData}, []string{"A2B4E70F846E63D68775B7215EB4563DFD3037244C61CC13"}},
		{"tdes decrypt request 1", "", []string{"dukpt", "decrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00001", "--padding", "1", "--data", "FC0D53B7EA1FDA9EE68AAF2E70D9B9506229BE2AA993F04F"}, []string{sampleData + "00000000000000"}},
		{"tdes advance", "", []string{"dukpt", "advance-ksn", "--mode", "tdes", "--ksn", "FFFF9876543210E00001"}, []string{"FFFF9876543210E00002"}},
		// 0x0003FF has ten one-bits; its successor must skip to 0x000400.
		{"tdes advance skips", "", []string{"dukpt", "advance-ksn", "--mode", "tdes", "--ksn", "FFFF9876543210E003FF"}, []string{"FFFF9876543210E00400"}},

		// AES DUKPT, X9.24-3:2017 supplement (openemv/dukpt, moov-io/dukpt).
		// The data vectors are zero padded: --padding 1, not the terminal's.
		{"aes ik", "", []string{"dukpt", "derive-ik", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesIKSN}, []string{aesIK}},
		{"aes ik from ik id", "", []string{"dukpt", "derive-ik", "--mode", "aes", "--bdk", aesBDK, "--ksn", "1234567890123456", "--key-type", "aes128"}, []string{aesIK}},
		{"aes txn key 1", "", []string{"dukpt", "derive-txn-key", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001"}, []string{"4F21B565BAD9835E112B6465635EAE44"}},
		{"aes txn key 8 ik", "", []string{"dukpt", "derive-txn-key", "--mode", "aes", "--ik", aesIK, "--ksn", "123456789012345600000008"}, []string{"718EE6CF0B27E53D5F7AF99C4D8146A2"}},
		{"aes txn key 20000", "", []string{"dukpt", "derive-txn-key", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600020000"}, []string{"F7AE9025468A25D37B7249CFFED224C8"}},
		{"aes txn key last", "", []string{"dukpt", "derive-txn-key", "--mode", "aes", "--ik", aesIK, "--ksn", "1234567890123456FFFF0000", "--key-type", "aes128"}, []string{"F6BA59389BD14A9855BE9727E7C52E3C"}},
		{"aes pin 1", "2F69ADDE2E9E7ACE", []string{"dukpt", "encrypt-pin", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--pin", "1234", "--pan", "4111111111111111"}, []string{"A912150391AB65A67E52883D81CE2D15"}},
		{"aes pin 2", "2F69ADDE2E9E7ACE", []string{"dukpt", "encrypt-pin", "--mode", "aes", "--ik", aesIK, "--ksn", "123456789012345600000002", "--pin", "1234", "--pan", "4111111111111111", "--key-type", "aes128"}, []string{"52A00503BD34BA1383F6A7EE9FE2547F"}},
		{"aes decrypt pin", "", []string{"dukpt", "decrypt-pin", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600845FED", "--pinblock", "3AB5FF370302F73089003AD36CB7E046", "--pan", "4111111111111111"}, []string{"1234"}},
		{"aes data request 1", "", []string{"dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--padding", "1", "--data", sampleData}, []string{"E5AFA5B408A3310E3D779C8A9A2AE29448BD5B4232582090DB703AF647205A79"}},
		{"aes data request 2", "", []string{"dukpt", "encrypt-request", "--mode", "aes", "--ik", aesIK, "--ksn", "123456789012345600000002", "--padding", "1", "--data", sampleData}, []string{"A17A9658EE0F451D6CA11B65B592EF9C5F90BB175D926F1457B63B3273042476"}},
		{"aes decrypt request 8", "", []string{"dukpt", "decrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000008", "--padding", "1", "--data", "304EC254A7B528D9892E47F7C1315D498C0D88EA8CD71CA52D38F362721AEA67"}, []string{sampleData + strings.Repeat("00", 15)}},
		{"aes advance", "", []string{"dukpt", "advance-ksn", "--mode", "aes", "--ksn", "123456789012345600000001"}, []string{"123456789012345600000002"}},
		// 0x1FFFF has 17 one-bits: the supplement skips from 1FFFE to 20000.
		{"aes advance skips", "", []string{"dukpt", "advance-ksn", "--mode", "aes", "--ksn", "12345678901234560001FFFE"}, []string{"123456789012345600020000"}},

		// TR-31:2018 annex A.7.2.1 and A.7.4 (openemv/tr31 tests).
		{"tr31 import A", "", []string{"tr31", "import", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--block", "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"},
			[]string{"F039121BEC83D26B169BDCD5B22AAF8F", "header=A0072P0TE00E0000", "usage=P0", "algorithm=T", "mode=E", "exportability=E"}},
		{"tr31 import D", "", []string{"tr31", "import", "--kbpk", "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6", "--block", "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34"},
			[]string{"3F419E1CB7079442AA37474C2EFBF8B8", "header=D0112P0AE00E0000", "usage=P0", "algorithm=A", "mode=E", "exportability=E"}},
		{"tr31 import KS block", "", []string{"tr31", "import", "--kbpk", "B8ED59E0A279A295E9F5ED7944FD06B9", "--block", "C0096B0TX12S0100KS1800604B120F9292800000BFB9B689CB567E66FC3FEE5AD5F52161FC6545B9D60989015D02155C"},
			[]string{"EDB380DD340BC2620247D445F5B8D678", "header=C0096B0TX12S0100", "usage=B0", "algorithm=T", "mode=X", "exportability=S", "opt-block=KS=00604B120F9292800000"}},

		// Key check values: the X9.24 sample BDK, and the CMAC check value of
		// the TR-31:2018 A.7.4 AES key.
		{"kcv tdes", "", []string{"kcv", "--alg", "tdes", "--key", tdesBDK}, []string{"08D7B4"}},
		{"kcv aes", "", []string{"kcv", "--alg", "aes", "--key", "3F419E1CB7079442AA37474C2EFBF8B8"}, []string{"08793E"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cmd{}
			if tc.rnd != "" {
				b, _ := hex.DecodeString(tc.rnd)
				c.Rand = bytes.NewReader(b)
			}
			code, out, errs := run(c, tc.args...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if errs != "" {
				t.Errorf("stderr %q on success", errs)
			}
			want := strings.Join(tc.want, "\n") + "\n"
			if out != want {
				t.Errorf("stdout\n%s\nwant\n%s", out, want)
			}
		})
	}
}

// AES PIN blocks are randomised: encrypt then decrypt must round-trip,
// for every AES working key type.
func TestPINRoundTrip(t *testing.T) {
	for _, kt := range []string{"aes128", "aes192", "aes256"} {
		bdk := strings.Repeat("A5", 32)
		args := []string{"--mode", "aes", "--bdk", bdk, "--ksn", "123456789012345600000007", "--pan", "5413330089020011", "--key-type", kt}
		code, out, errs := run(&Cmd{}, append([]string{"dukpt", "encrypt-pin", "--pin", "98765"}, args...)...)
		if code != ExitOK {
			t.Fatalf("%s encrypt: exit %d %q", kt, code, errs)
		}
		blk := strings.TrimSpace(out)
		if len(blk) != 32 || strings.ToUpper(blk) != blk {
			t.Fatalf("%s: PIN block %q", kt, blk)
		}
		code, out, errs = run(&Cmd{}, append([]string{"dukpt", "decrypt-pin", "--pinblock", blk}, args...)...)
		if code != ExitOK || out != "98765\n" {
			t.Fatalf("%s decrypt: exit %d out %q err %q", kt, code, out, errs)
		}
	}
}

func TestDataRoundTripWithIV(t *testing.T) {
	for _, tc := range []struct{ mode, ksn, iv, kt string }{
		{"tdes", "FFFF9876543210E00010", "0102030405060708", ""},
		{"aes", "123456789012345600000010", "000102030405060708090A0B0C0D0E0F", "aes256"},
		{"aes", "123456789012345600000010", "0001020304050607", "tdes3"},
	} {
		bdk := tdesBDK
		if tc.mode == "aes" {
			bdk = strings.Repeat("5A", 32)
		}
		args := []string{"--mode", tc.mode, "--bdk", bdk, "--ksn", tc.ksn, "--iv", tc.iv, "--padding", "1"}
		if tc.kt != "" {
			args = append(args, "--key-type", tc.kt)
		}
		data := "00112233445566778899AABBCCDDEEFF0011223344556677"
		code, out, errs := run(&Cmd{}, append([]string{"dukpt", "encrypt-request", "--data", data}, args...)...)
		if code != ExitOK {
			t.Fatalf("%v encrypt: exit %d %q", tc, code, errs)
		}
		enc := strings.TrimSpace(out)
		code, out, errs = run(&Cmd{}, append([]string{"dukpt", "decrypt-request", "--data", enc}, args...)...)
		if code != ExitOK {
			t.Fatalf("%v decrypt: exit %d %q", tc, code, errs)
		}
		if !strings.HasPrefix(strings.TrimSpace(out), data) {
			t.Errorf("%v: decrypted %s, want prefix %s", tc, out, data)
		}
	}
}

// By default the request-data commands are the terminal's data cipher:
// the same key as the published vectors, but ISO 9797-1 padding method 2.
// Deciphering the default output in the zero-padded form (--padding 1)
// shows the padding bytes themselves: the data, 0x80, then zeros.
func TestRequestDataTerminalPadding(t *testing.T) {
	for _, tc := range []struct{ mode, key, ksn, pad string }{
		{"tdes", "--bdk=" + tdesBDK, "FFFF9876543210E00001", "80000000000000"},
		{"tdes", "--ik=" + tdesIK, "FFFF9876543210E00002", "80000000000000"},
		{"aes", "--bdk=" + aesBDK, "123456789012345600000001", "80" + strings.Repeat("00", 14)},
		{"aes", "--ik=" + aesIK, "123456789012345600000008", "80" + strings.Repeat("00", 14)},
	} {
		args := []string{"--mode", tc.mode, tc.key, "--ksn", tc.ksn}
		code, out, errs := run(&Cmd{}, append([]string{"dukpt", "encrypt-request", "--data", sampleData}, args...)...)
		if code != ExitOK {
			t.Fatalf("%v encrypt: exit %d %q", tc, code, errs)
		}
		enc := strings.TrimSpace(out)
		code, out, errs = run(&Cmd{}, append([]string{"dukpt", "decrypt-request", "--padding", "1", "--data", enc}, args...)...)
		if code != ExitOK || strings.TrimSpace(out) != sampleData+tc.pad {
			t.Errorf("%v: raw decryption exit %d out %q err %q, want %s", tc, code, out, errs, sampleData+tc.pad)
		}
		for _, extra := range [][]string{nil, {"--padding", "2"}} {
			code, out, errs = run(&Cmd{}, append(append([]string{"dukpt", "decrypt-request", "--data", enc}, args...), extra...)...)
			if code != ExitOK || strings.TrimSpace(out) != sampleData {
				t.Errorf("%v %v: decryption exit %d out %q err %q, want %s", tc, extra, code, out, errs, sampleData)
			}
		}
	}
}

func TestRequestDataTerminalErrors(t *testing.T) {
	ksn := "FFFF9876543210E00001"
	aesKSN := "123456789012345600000001"
	for _, tc := range []struct {
		name string
		want int
		args []string
	}{
		{"unknown padding", ExitUsage, []string{"dukpt", "encrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn, "--data", sampleData, "--padding", "pkcs7"}},
		{"iv not zero", ExitUsage, []string{"dukpt", "encrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn, "--data", sampleData, "--iv", "0102030405060708"}},
		{"aes256 data key", ExitUsage, []string{"dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesKSN, "--data", sampleData, "--key-type", "aes256"}},
		{"bdk and ik", ExitUsage, []string{"dukpt", "encrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ik", tdesIK, "--ksn", ksn, "--data", sampleData}},
		{"missing data", ExitUsage, []string{"dukpt", "decrypt-request", "--mode", "aes", "--ik", aesIK, "--ksn", aesKSN}},
		{"wrong ksn", ExitError, []string{"dukpt", "decrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00002", "--data", "FC0D53B7EA1FDA9EE68AAF2E70D9B9507CCE9749DBCC4F30"}},
		{"zero padded ciphertext", ExitError, []string{"dukpt", "decrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn, "--data", "FC0D53B7EA1FDA9EE68AAF2E70D9B9506229BE2AA993F04F"}},
		{"aes not whole blocks", ExitError, []string{"dukpt", "decrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesKSN, "--data", "0011223344556677"}},
		{"too long", ExitError, []string{"dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesKSN, "--data", strings.Repeat("31", 1025)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(&Cmd{}, tc.args...)
			if code != tc.want || out != "" || !strings.HasPrefix(errs, "posctl keys: ") {
				t.Errorf("exit %d (want %d) out %q err %q", code, tc.want, out, errs)
			}
			for _, secret := range []string{tdesBDK, aesBDK, tdesIK, aesIK, sampleData} {
				if strings.Contains(strings.ToUpper(errs), secret) {
					t.Errorf("stderr %q echoes a key or the data", errs)
				}
			}
		})
	}
	// A zero IV of the right length is the terminal's and is accepted.
	code, out, errs := run(&Cmd{}, "dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesKSN, "--data", sampleData, "--iv", strings.Repeat("00", 16), "--key-type", "aes128")
	if code != ExitOK {
		t.Fatalf("zero IV: exit %d err %q", code, errs)
	}
	_, want, _ := run(&Cmd{}, "dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", aesKSN, "--data", sampleData)
	if out != want {
		t.Errorf("zero IV gives %q, without --iv %q", out, want)
	}
}

func TestTR31ExportImport(t *testing.T) {
	kbpk := "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6"
	key := "3F419E1CB7079442AA37474C2EFBF8B8"
	rnd := bytes.NewReader(bytes.Repeat([]byte{0x42}, 64))
	code, out, errs := run(&Cmd{Rand: rnd}, "tr31", "export", "--kbpk", kbpk, "--header", "D0000P0AE00E0000", "--key", key, "--opt-block", "KC=")
	if code != ExitOK {
		t.Fatalf("export: exit %d %q", code, errs)
	}
	blk := strings.TrimSpace(out)
	if !strings.HasPrefix(blk, "D") || !strings.Contains(blk[:16], "P0AE00E") {
		t.Fatalf("export gave %q", blk)
	}
	code, out, errs = run(&Cmd{}, "tr31", "import", "--kbpk", kbpk, "--block", blk)
	if code != ExitOK {
		t.Fatalf("import: exit %d %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != key {
		t.Errorf("imported key %s, want %s", lines[0], key)
	}
	if !strings.Contains(out, "usage=P0\n") || !strings.Contains(out, "algorithm=A\n") || !strings.Contains(out, "opt-block=KC=01") {
		t.Errorf("import output:\n%s", out)
	}
	// The KC block carries the CMAC check value of the key.
	if !strings.Contains(out, "opt-block=KC=0108793E") {
		t.Errorf("KC block missing the key's check value:\n%s", out)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}} {
		code, out, errs := run(&Cmd{}, args...)
		if code != ExitOK || !strings.HasPrefix(out, "usage: posctl keys") || errs != "" {
			t.Errorf("%v: exit %d out %q err %q", args, code, out, errs)
		}
	}
}

func TestErrors(t *testing.T) {
	ksn1 := "FFFF9876543210E00001"
	tests := []struct {
		name string
		want int
		args []string
	}{
		{"unknown command", ExitUsage, []string{"frobnicate"}},
		{"dukpt no sub", ExitUsage, []string{"dukpt"}},
		{"dukpt unknown sub", ExitUsage, []string{"dukpt", "derive-everything"}},
		{"unknown flag", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--colour", "red"}},
		{"extra arg", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "extra"}},
		{"key split by a space", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK[:16], tdesBDK[16:], "--ksn", ksn1}},
		{"missing ksn", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK}},
		{"missing mode", ExitUsage, []string{"dukpt", "derive-ik", "--bdk", tdesBDK, "--ksn", ksn1}},
		{"bad mode", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "rsa", "--bdk", tdesBDK, "--ksn", ksn1}},
		{"bdk twice", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK, "--bdk", tdesBDK, "--ksn", ksn1}},
		{"bdk and ik", ExitUsage, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ik", tdesIK, "--ksn", ksn1}},
		{"neither bdk nor ik", ExitUsage, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--ksn", ksn1}},
		{"key type with tdes", ExitUsage, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--key-type", "aes128"}},
		{"unknown key type", ExitUsage, []string{"dukpt", "derive-txn-key", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--key-type", "aes512"}},
		{"tdes working key for pin", ExitUsage, []string{"dukpt", "encrypt-pin", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--pin", "1234", "--pan", "4111111111111111", "--key-type", "tdes2"}},
		{"bad hex bdk", ExitError, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", "0123456789ABCDEFFEDCBA98765432XY", "--ksn", ksn1}},
		{"odd hex bdk", ExitError, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", "0123456789ABCDEFFEDCBA987654321", "--ksn", ksn1}},
		{"short bdk", ExitError, []string{"dukpt", "derive-ik", "--mode", "tdes", "--bdk", "0123456789ABCDEF", "--ksn", ksn1}},
		{"aes bdk 20 bytes", ExitError, []string{"dukpt", "derive-ik", "--mode", "aes", "--bdk", strings.Repeat("11", 20), "--ksn", aesIKSN}},
		{"bad hex ksn", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E0000Z"}},
		{"tdes ksn in aes mode", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "aes", "--bdk", aesBDK, "--ksn", ksn1}},
		{"aes ksn in tdes mode", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "123456789012345600000001"}},
		{"tdes too many ones", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E007FF"}},
		{"aes too many ones", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "aes", "--bdk", aesBDK, "--ksn", "12345678901234560001FFFF"}},
		{"advance too many ones", ExitError, []string{"dukpt", "advance-ksn", "--mode", "aes", "--ksn", "12345678901234560001FFFF"}},
		{"tdes counter zero", ExitError, []string{"dukpt", "derive-txn-key", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", tdesIKSN}},
		{"tdes exhausted", ExitError, []string{"dukpt", "advance-ksn", "--mode", "tdes", "--ksn", "FFFF9876543210FFF800"}},
		{"aes exhausted", ExitError, []string{"dukpt", "advance-ksn", "--mode", "aes", "--ksn", "1234567890123456FFFF0000"}},
		{"short pin", ExitError, []string{"dukpt", "encrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--pin", "123", "--pan", "4012345678909"}},
		{"non-digit pin", ExitError, []string{"dukpt", "encrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--pin", "12a4", "--pan", "4012345678909"}},
		{"bad pan", ExitError, []string{"dukpt", "encrypt-pin", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--pin", "1234", "--pan", "4111-1111"}},
		{"missing pan", ExitUsage, []string{"dukpt", "encrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--pin", "1234"}},
		{"pin block wrong ksn", ExitError, []string{"dukpt", "decrypt-pin", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", "FFFF9876543210E00002", "--pinblock", "1B9C1845EB993A7A", "--pan", "4012345678909"}},
		{"pin block wrong length", ExitError, []string{"dukpt", "decrypt-pin", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--pinblock", "1B9C1845EB993A7A", "--pan", "4111111111111111"}},
		{"data not whole blocks", ExitError, []string{"dukpt", "decrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--data", "00112233"}},
		{"iv wrong length", ExitError, []string{"dukpt", "encrypt-request", "--mode", "aes", "--bdk", aesBDK, "--ksn", "123456789012345600000001", "--data", "00", "--iv", "0011223344556677"}},
		{"empty data", ExitError, []string{"dukpt", "encrypt-request", "--mode", "tdes", "--bdk", tdesBDK, "--ksn", ksn1, "--data", ""}},
		{"tr31 no sub", ExitUsage, []string{"tr31"}},
		{"tr31 wrong kbpk", ExitError, []string{"tr31", "import", "--kbpk", "89E88CF7931444F334BD7547FC3F381C", "--block", "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"}},
		{"tr31 altered block", ExitError, []string{"tr31", "import", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--block", "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8702"}},
		{"tr31 garbage block", ExitError, []string{"tr31", "import", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--block", "hello"}},
		{"tr31 short kbpk", ExitError, []string{"tr31", "import", "--kbpk", "89E88CF7", "--block", "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"}},
		{"tr31 bad header", ExitError, []string{"tr31", "export", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--header", "X0000P0TE00E0000", "--key", tdesBDK}},
		{"tr31 header length", ExitError, []string{"tr31", "export", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--header", "A0000P0TE00E", "--key", tdesBDK}},
		{"tr31 bad opt block", ExitUsage, []string{"tr31", "export", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--header", "B0000P0TE00E0000", "--key", tdesBDK, "--opt-block", "KSV"}},
		{"tr31 key length for algorithm", ExitError, []string{"tr31", "export", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "--header", "B0000P0TE00E0000", "--key", "0011223344"}},
		{"tr31 32-byte kbpk for version B", ExitError, []string{"tr31", "export", "--kbpk", strings.Repeat("11", 32), "--header", "B0000P0TE00E0000", "--key", tdesBDK}},
		{"kcv bad alg", ExitUsage, []string{"kcv", "--alg", "rsa", "--key", tdesBDK}},
		{"kcv bad key length", ExitError, []string{"kcv", "--alg", "aes", "--key", "0011223344"}},
		{"kcv missing key", ExitUsage, []string{"kcv", "--alg", "aes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(&Cmd{}, tc.args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.want, errs)
			}
			if out != "" {
				t.Errorf("stdout %q on failure", out)
			}
			if !strings.HasPrefix(errs, "posctl keys: ") || strings.Count(errs, "\n") != 1 {
				t.Errorf("stderr %q is not one \"posctl keys: \" line", errs)
			}
			// Keys, PINs and PANs given on the command line never come back
			// in the message.
			for _, secret := range []string{tdesBDK, tdesBDK[16:], aesBDK, tdesIK, "89E88CF7931444F334BD7547FC3F380", "4012345678909", "4111111111111111"} {
				if strings.Contains(strings.ToUpper(errs), secret) {
					t.Errorf("stderr %q echoes a secret", errs)
				}
			}
		})
	}
}

// The package-level Run uses the real random source and behaves the same.
func TestRunWrapper(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"kcv", "--alg", "tdes", "--key", tdesBDK}, &out, &errb); code != ExitOK || out.String() != "08D7B4\n" {
		t.Errorf("Run: exit %d out %q err %q", code, out.String(), errb.String())
	}
}

// Whatever the command line, Run never panics, always exits with one of
// its statuses and, on failure, writes exactly one line to stderr.
func FuzzRun(f *testing.F) {
	f.Add("dukpt\x00derive-ik\x00--mode\x00tdes\x00--bdk\x00" + tdesBDK + "\x00--ksn\x00" + tdesIKSN)
	f.Add("dukpt\x00decrypt-pin\x00--mode\x00aes\x00--ik\x00" + aesIK + "\x00--ksn\x00123456789012345600000001\x00--pinblock\x00A912150391AB65A67E52883D81CE2D15\x00--pan\x004111111111111111")
	f.Add("dukpt\x00advance-ksn\x00--mode\x00aes\x00--ksn\x001234567890123456FFFF0000")
	f.Add("tr31\x00import\x00--kbpk\x0089E88CF7931444F334BD7547FC3F380C\x00--block\x00A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701")
	f.Add("kcv\x00--alg\x00aes\x00--key\x0000")
	f.Add("emv\x00icc-mk\x00--imk\x000123456789ABCDEFFEDCBA9876543210\x00--pan\x0012345678901234567\x00--psn\x0045")
	f.Add("emv\x00session-key\x00--icc-mk\x000123456789ABCDEFFEDCBA9876543210\x00--atc\x00001C\x00--method\x00mastercard\x00--un\x00ABCDEF12")
	f.Add("emv\x00arpc\x00--key\x0029B33180E567CE38EA4CBC9D753B0E61\x00--arqc\x00FA624250B008B59A\x00--method\x002\x00--csu\x0000000000\x00--prop\x0012")
	f.Add("dukpt\x00decrypt-request\x00--mode\x00tdes\x00--ik\x00" + tdesIK + "\x00--ksn\x00FFFF9876543210E00001\x00--data\x00FC0D53B7EA1FDA9EE68AAF2E70D9B9507CCE9749DBCC4F30")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		code, out, errs := run(&Cmd{Rand: bytes.NewReader(make([]byte, 256))}, args...)
		switch code {
		case ExitOK:
			if errs != "" {
				t.Fatalf("stderr %q on success", errs)
			}
		case ExitError, ExitUsage:
			if out != "" || !strings.HasPrefix(errs, "posctl keys: ") || strings.Count(errs, "\n") != 1 {
				t.Fatalf("exit %d: stdout %q stderr %q", code, out, errs)
			}
		default:
			t.Fatalf("exit status %d", code)
		}
	})
}
