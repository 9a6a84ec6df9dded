package keyscmd

import (
	"strings"
	"testing"
)

// Published vectors of knovichikhin/pyemv (commit cf6b82d7a1e1b57c87d18a2caae2115f8b3e4309):
// docstring examples of pyemv/kd.py and pyemv/ac.py (full values) and the
// tests tests/test_kd_hsm.py, test_ac_hsm.py and test_cvn_hsm.py, which
// assert keys by their first two check value bytes (KCVPrefix below).
const pyemvIMK = "0123456789ABCDEFFEDCBA9876543210"

func TestEMVPublishedVectors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // whole stdout line
		kcv  string // or: the key's check value starts with these digits
	}{
		// kd.derive_icc_mk_a / derive_icc_mk_b examples.
		{"icc-mk A example", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "99012345678901234", "--psn", "45", "--option", "a"}, "67F8292358083E5EA7AB7FDA58D53B6B", ""},
		{"icc-mk A 17 digits", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "12345678901234567", "--psn", "01", "--option", "A"}, "73AD54688CEF2934B0979857E3C719F1", ""},
		{"icc-mk B 17 digits", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "12345678901234567", "--psn", "01", "--option", "b"}, "AD406D7F6D7570916D75E5DCAB8CF737", ""},
		{"icc-mk auto picks B", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "12345678901234567", "--psn", "01"}, "AD406D7F6D7570916D75E5DCAB8CF737", ""},
		// test_kd_hsm.py / test_ac_hsm.py / test_cvn_hsm.py check digits.
		{"icc-mk test_derive_icc_mk_a_psn", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "12345678901234567", "--psn", "45", "--option", "a"}, "", "FF08"},
		{"icc-mk test_derive_icc_mk_b_pan18", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "123456789012345679", "--psn", "00", "--option", "b"}, "", "C2F3"},
		{"icc-mk test_derive_icc_mk_b_sha_pad", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "000000000000000005", "--psn", "23"}, "", "DD73"},
		{"icc-mk test_generate_ac_emv_arpc1", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "9901234567890123", "--psn", "45"}, "", "1DA5"},
		{"icc-mk cvn tests", []string{"icc-mk", "--imk", pyemvIMK, "--pan", "1234567890123456", "--psn", "00"}, "", "BAB0"},
		// kd.derive_common_sk example: MK = the IMK, R = ATC 001C || zeros.
		{"session-key common example", []string{"session-key", "--icc-mk", pyemvIMK, "--atc", "001C", "--method", "common"}, "E9FB384AF807B940FEDCEA613461B0C4", ""},
		// test_cvn_hsm.py, ICC MK of PAN 1234567890123456 / 00 (BAB0), ATC 001C.
		{"session-key cvn18", []string{"session-key", "--icc-mk", cvnMK(t), "--atc", "001C", "--method", "common"}, "", "22C8"},
		{"session-key cvn16", []string{"session-key", "--icc-mk", cvnMK(t), "--atc", "001C", "--method", "mastercard", "--un", "ABCDEF12"}, "", "2FD5"},
		// test_kd_hsm.py test_derive_icc_mk_a_psn: R = 1234567890123456.
		{"session-key common whole R", []string{"session-key", "--icc-mk", firstField(t, "emv", "icc-mk", "--imk", pyemvIMK, "--pan", "12345678901234567", "--psn", "45", "--option", "a"), "--method", "common", "--r", "1234567890123456"}, "", "DF82"},
		{"session-key cvn10 none", []string{"session-key", "--icc-mk", cvnMK(t), "--method", "none"}, "", "BAB0"},
		// pyemv/ac.py examples.
		{"ac module example", []string{"ac", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--data", "0123456789ABCDEF0123456789ABCDEF", "--padding", "2"}, "FA624250B008B59A", ""},
		{"ac generate_ac example", []string{"ac", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "--data", "000000002000000000000000012400000080000124110309003804823E58000001", "--padding", "2"}, "3B76CF10FECD8789", ""},
		// test_cvn_hsm.py test_visa_cvn10: zero padding under the ICC MK.
		{"ac cvn10", []string{"ac", "--key", cvnMK(t), "--data", "00000000400000000000000001248000048000012419110501" + "52BF4585" + "1800" + "001C" + "03A06010", "--padding", "1"}, "29CCA15AE665FA2E", ""},
		{"arpc 1 module example", []string{"arpc", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--arqc", "FA624250B008B59A", "--method", "1", "--arc", "0000"}, "45D4255EEF10C920", ""},
		{"arpc 1 cvn10", []string{"arpc", "--key", cvnMK(t), "--arqc", "29CCA15AE665FA2E", "--method", "1", "--arc", "3030"}, "28993816AFAE4AEB", ""},
		{"arpc 2 module example", []string{"arpc", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--arqc", "FA624250B008B59A", "--method", "2", "--csu", "00000000"}, "CB56FA40", ""},
		{"arpc 2 generate_arpc_2 example", []string{"arpc", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "--arqc", "1234567890ABCDEF", "--method", "2", "--csu", "00000000"}, "9308BEBC", ""},
		// test_ac_hsm.py test_generate_arpc2 (session key check digits 0995).
		{"arpc 2 with prop", []string{"arpc", "--key", acSK(t), "--arqc", "4B46013359B7A58B", "--method", "2", "--csu", "00000000", "--prop", "1234567890ABCDEF"}, "4962B76C", ""},
		{"arpc 2 empty prop", []string{"arpc", "--key", acSK(t), "--arqc", "4B46013359B7A58B", "--method", "2", "--csu", "00000000", "--prop", ""}, "7DFB1188", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(&Cmd{}, append([]string{"emv"}, tc.args...)...)
			if code != ExitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			line := strings.TrimSuffix(out, "\n")
			if strings.Contains(line, "\n") || line != strings.ToUpper(line) {
				t.Fatalf("stdout %q is not one upper-case line", out)
			}
			fields := strings.Fields(line)
			if tc.want != "" && fields[0] != tc.want {
				t.Errorf("got %s, want %s", fields[0], tc.want)
			}
			keyCmd := tc.args[0] == "icc-mk" || tc.args[0] == "session-key"
			if keyCmd {
				if len(fields) != 2 || len(fields[1]) != 6 {
					t.Fatalf("%q is not KEY KCV", line)
				}
				_, kout, _ := run(&Cmd{}, "kcv", "--alg", "tdes", "--key", fields[0])
				if strings.TrimSpace(kout) != fields[1] {
					t.Errorf("KCV %s, kcv command says %s", fields[1], kout)
				}
				if tc.kcv != "" && !strings.HasPrefix(fields[1], tc.kcv) {
					t.Errorf("KCV %s, want %s...", fields[1], tc.kcv)
				}
			} else if len(fields) != 1 {
				t.Errorf("%q: more than the cryptogram", line)
			}
		})
	}
}

// cvnMK is the ICC master key of the pyemv cryptogram version tests.
func cvnMK(t *testing.T) string {
	return firstField(t, "emv", "icc-mk", "--imk", pyemvIMK, "--pan", "1234567890123456", "--psn", "00")
}

// acSK is the session key of pyemv's test_ac_hsm.py: ICC MK of PAN
// 9901234567890123 / 45 (option A, check digits 1DA5), common derivation
// with R = 1234567890123456 (check digits 0995).
func acSK(t *testing.T) string {
	t.Helper()
	mk := firstField(t, "emv", "icc-mk", "--imk", pyemvIMK, "--pan", "9901234567890123", "--psn", "45", "--option", "a")
	code, out, errs := run(&Cmd{}, "emv", "session-key", "--icc-mk", mk, "--method", "common", "--r", "1234567890123456")
	if code != ExitOK || !strings.HasPrefix(strings.Fields(out)[1], "0995") {
		t.Fatalf("session key %q %q, pyemv's check digits are 0995", out, errs)
	}
	return strings.Fields(out)[0]
}

func firstField(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(&Cmd{}, args...)
	if code != ExitOK {
		t.Fatalf("%v: exit %d %q", args, code, errs)
	}
	return strings.Fields(out)[0]
}

func TestEMVErrors(t *testing.T) {
	tests := []struct {
		name string
		want int
		args []string
	}{
		{"no sub", ExitUsage, []string{"emv"}},
		{"unknown sub", ExitUsage, []string{"emv", "cvv"}},
		{"icc-mk missing psn", ExitUsage, []string{"emv", "icc-mk", "--imk", pyemvIMK, "--pan", "4012345678909"}},
		{"icc-mk bad option", ExitUsage, []string{"emv", "icc-mk", "--imk", pyemvIMK, "--pan", "4012345678909", "--psn", "00", "--option", "c"}},
		{"icc-mk bad pan", ExitError, []string{"emv", "icc-mk", "--imk", pyemvIMK, "--pan", "4012-3456", "--psn", "00"}},
		{"icc-mk bad psn", ExitError, []string{"emv", "icc-mk", "--imk", pyemvIMK, "--pan", "4012345678909", "--psn", "1"}},
		{"icc-mk short imk", ExitError, []string{"emv", "icc-mk", "--imk", pyemvIMK[:16], "--pan", "4012345678909", "--psn", "00"}},
		{"icc-mk bad hex", ExitError, []string{"emv", "icc-mk", "--imk", pyemvIMK[:30] + "XY", "--pan", "4012345678909", "--psn", "00"}},
		{"session bad method", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "0001", "--method", "visa"}},
		{"session missing atc", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--method", "common"}},
		{"session mastercard no un", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "0001", "--method", "mastercard"}},
		{"session common with un", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "0001", "--method", "common", "--un", "01020304"}},
		{"session atc length", ExitError, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "000001", "--method", "common"}},
		{"session un length", ExitError, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "0001", "--method", "mastercard", "--un", "010203"}},
		{"session key length", ExitError, []string{"emv", "session-key", "--icc-mk", pyemvIMK + "00", "--atc", "0001", "--method", "common"}},
		{"session r with atc", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--atc", "0001", "--method", "common", "--r", "0001000000000000"}},
		{"session r with mastercard", ExitUsage, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--method", "mastercard", "--un", "01020304", "--r", "0001000000000000"}},
		{"session r length", ExitError, []string{"emv", "session-key", "--icc-mk", pyemvIMK, "--method", "common", "--r", "00010000"}},
		{"ac missing padding", ExitUsage, []string{"emv", "ac", "--key", pyemvIMK, "--data", "00"}},
		{"ac bad padding", ExitUsage, []string{"emv", "ac", "--key", pyemvIMK, "--data", "00", "--padding", "3"}},
		{"ac key length", ExitError, []string{"emv", "ac", "--key", pyemvIMK[:16], "--data", "00", "--padding", "2"}},
		{"ac empty data", ExitError, []string{"emv", "ac", "--key", pyemvIMK, "--data", "", "--padding", "2"}},
		{"arpc bad method", ExitUsage, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "3"}},
		{"arpc 1 missing arc", ExitUsage, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "1"}},
		{"arpc 1 with csu", ExitUsage, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "1", "--arc", "3030", "--csu", "00000000"}},
		{"arpc 2 missing csu", ExitUsage, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "2"}},
		{"arpc 2 with arc", ExitUsage, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "2", "--csu", "00000000", "--arc", "3030"}},
		{"arpc arqc length", ExitError, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "00112233", "--method", "1", "--arc", "3030"}},
		{"arpc prop length", ExitError, []string{"emv", "arpc", "--key", pyemvIMK, "--arqc", "0011223344556677", "--method", "2", "--csu", "00000000", "--prop", "001122334455667788"}},
		{"key twice", ExitUsage, []string{"emv", "ac", "--key", pyemvIMK, "--key", pyemvIMK, "--data", "00", "--padding", "2"}},
		{"key split by a space", ExitUsage, []string{"emv", "ac", "--key", pyemvIMK[:16], pyemvIMK[16:], "--data", "00", "--padding", "2"}},
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
			for _, secret := range []string{pyemvIMK, pyemvIMK[:16], pyemvIMK[16:], "4012345678909", "40123456"} {
				if strings.Contains(strings.ToUpper(errs), secret) {
					t.Errorf("stderr %q echoes a secret", errs)
				}
			}
		})
	}
}

func TestEMVHelp(t *testing.T) {
	code, out, _ := run(&Cmd{}, "help")
	if code != ExitOK || !strings.Contains(out, "emv icc-mk") || !strings.Contains(out, "emv arpc") {
		t.Errorf("help lacks the emv commands:\n%s", out)
	}
	code, out2, _ := run(&Cmd{}, "emv", "help")
	if code != ExitOK || out2 != out {
		t.Errorf("emv help differs from help")
	}
}
