package wiresec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"
	"testing"

	"posd/crypto/dukpt"
	"posd/crypto/mac"
	"posd/internal/testhex"
)

// Published test keys of the standards (never production keys).
var (
	aesBDK   = testhex.Must("FEDCBA9876543210F1F1F1F1F1F1F1F1")
	aesIKSN  = testhex.Must("123456789012345600000000")
	tdesBDK  = testhex.Must("0123456789ABCDEFFEDCBA9876543210")
	tdesIKSN = testhex.Must("FFFF9876543210E00000")
)

type pair struct{ ksn, key []byte }

// terminalKeys returns n consecutive (KSN, transaction key) pairs the way a
// terminal gets them: from its DUKPT originator, loaded with the initial key
// derived from the BDK at injection. The host side derives from the BDK on
// its own, so agreement is a real check.
func terminalKeys(t testing.TB, mode Mode, n int) []pair {
	t.Helper()
	var (
		o   dukpt.Originator
		err error
	)
	switch mode {
	case ModeAES:
		ik, e := dukpt.AESDeriveIK(aesBDK, aesIKSN)
		if e != nil {
			t.Fatal(e)
		}
		o, err = dukpt.NewAESOriginator(ik, aesIKSN)
	case ModeTDES:
		ik, e := dukpt.TDESDeriveIK(tdesBDK, tdesIKSN)
		if e != nil {
			t.Fatal(e)
		}
		o, err = dukpt.NewTDESOriginator(ik, tdesIKSN)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	out := make([]pair, 0, n)
	for range n {
		ksn, key, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pair{ksn, key})
	}
	return out
}

func bdkFor(mode Mode) []byte {
	if mode == ModeAES {
		return aesBDK
	}
	return tdesBDK
}

const testTrack = "4761739001010010=25122011143804400000"
const testPAN = "4761739001010010"

func TestTerminalAndHostAgree(t *testing.T) {
	for _, mode := range []Mode{ModeAES, ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			var prevCT []byte
			for i, p := range terminalKeys(t, mode, 40) {
				term, err := ForTerminal(mode, p.ksn, p.key)
				if err != nil {
					t.Fatalf("#%d ForTerminal: %v", i, err)
				}
				hst, err := ForHost(mode, bdkFor(mode), p.ksn)
				if err != nil {
					t.Fatalf("#%d ForHost: %v", i, err)
				}
				if !bytes.Equal(hst.KSN(), p.ksn) || !bytes.Equal(term.KSN(), p.ksn) {
					t.Fatalf("#%d KSN not kept", i)
				}
				msg := fmt.Appendf(nil, "0200 message %d", i)

				reqMAC, err := term.MACRequest(msg)
				if err != nil {
					t.Fatal(err)
				}
				if len(reqMAC) != MACLen {
					t.Fatalf("request MAC is %d bytes", len(reqMAC))
				}
				if err := hst.VerifyRequestMAC(msg, reqMAC); err != nil {
					t.Fatalf("#%d host rejects terminal's request MAC: %v", i, err)
				}
				respMAC, err := hst.MACResponse(msg)
				if err != nil {
					t.Fatal(err)
				}
				if err := term.VerifyResponseMAC(msg, respMAC); err != nil {
					t.Fatalf("#%d terminal rejects host's response MAC: %v", i, err)
				}
				if bytes.Equal(reqMAC, respMAC) {
					t.Fatalf("#%d request and response MAC keys are the same", i)
				}
				// A request MAC must not pass as a response MAC.
				if err := term.VerifyResponseMAC(msg, reqMAC); !errors.Is(err, ErrBadMAC) {
					t.Fatalf("#%d request MAC accepted as response MAC: %v", i, err)
				}

				ct, err := term.EncryptRequestData([]byte(testTrack))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(ct, []byte(testPAN)) {
					t.Fatal("ciphertext contains the PAN")
				}
				if bytes.Equal(ct, prevCT) {
					t.Fatalf("#%d same ciphertext under two KSNs", i)
				}
				prevCT = ct
				pt, err := hst.DecryptRequestData(ct)
				if err != nil {
					t.Fatalf("#%d host cannot decrypt: %v", i, err)
				}
				if string(pt) != testTrack {
					t.Fatalf("#%d decrypted track differs", i)
				}
				rct, err := hst.EncryptResponseData([]byte("response data"))
				if err != nil {
					t.Fatal(err)
				}
				if got, err := term.DecryptResponseData(rct); err != nil || string(got) != "response data" {
					t.Fatalf("#%d response data round trip: %v", i, err)
				}

				pin := fmt.Sprintf("%04d", 1000+i*37)
				blk, err := term.EncryptPIN(pin, testPAN)
				if err != nil {
					t.Fatal(err)
				}
				if len(blk) != mode.PINBlockLen() {
					t.Fatalf("PIN block is %d bytes", len(blk))
				}
				got, err := hst.DecryptPIN(blk, testPAN)
				if err != nil {
					t.Fatalf("#%d host cannot open PIN block: %v", i, err)
				}
				if got != pin {
					t.Fatalf("#%d PIN differs after round trip", i)
				}
				term.Wipe()
				hst.Wipe()
			}
		})
	}
}

func TestFlippedBitFailsVerification(t *testing.T) {
	for _, mode := range []Mode{ModeAES, ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			p := terminalKeys(t, mode, 3)[2]
			term, err := ForTerminal(mode, p.ksn, p.key)
			if err != nil {
				t.Fatal(err)
			}
			hst, err := ForHost(mode, bdkFor(mode), p.ksn)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("0200 purchase of 10.00 at T0000001")
			m, err := term.MACRequest(msg)
			if err != nil {
				t.Fatal(err)
			}
			for bit := range len(msg) * 8 {
				bad := bytes.Clone(msg)
				bad[bit/8] ^= 1 << (bit % 8)
				err := hst.VerifyRequestMAC(bad, m)
				var me *MACError
				if !errors.As(err, &me) || !errors.Is(err, ErrBadMAC) || me.Direction != "request" {
					t.Fatalf("message bit %d flipped: got %v, want *MACError", bit, err)
				}
			}
			for bit := range MACLen * 8 {
				bad := bytes.Clone(m)
				bad[bit/8] ^= 1 << (bit % 8)
				if err := hst.VerifyRequestMAC(msg, bad); !errors.Is(err, ErrBadMAC) {
					t.Fatalf("MAC bit %d flipped: got %v", bit, err)
				}
			}
			if err := hst.VerifyRequestMAC(msg, m[:7]); !errors.Is(err, ErrBadMAC) {
				t.Fatalf("short MAC: got %v", err)
			}
			rm, err := hst.MACResponse(msg)
			if err != nil {
				t.Fatal(err)
			}
			rm[0] ^= 0x01
			err = term.VerifyResponseMAC(msg, rm)
			var me *MACError
			if !errors.As(err, &me) || me.Direction != "response" {
				t.Fatalf("flipped response MAC: got %v", err)
			}
		})
	}
}

func TestWrongBDKDoesNotVerify(t *testing.T) {
	for _, mode := range []Mode{ModeAES, ModeTDES} {
		p := terminalKeys(t, mode, 1)[0]
		term, err := ForTerminal(mode, p.ksn, p.key)
		if err != nil {
			t.Fatal(err)
		}
		other := bytes.Clone(bdkFor(mode))
		other[0] ^= 0x10
		hst, err := ForHost(mode, other, p.ksn)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("hello")
		m, _ := term.MACRequest(msg)
		if err := hst.VerifyRequestMAC(msg, m); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("%s: wrong BDK verified: %v", mode, err)
		}
		ct, _ := term.EncryptRequestData([]byte(testTrack))
		if pt, err := hst.DecryptRequestData(ct); err == nil && string(pt) == testTrack {
			t.Fatalf("%s: wrong BDK decrypted the track", mode)
		}
	}
}

// The AES data and MAC encodings are the documented ones, checked with the
// standard library against the working keys straight from the DUKPT package.
func TestAESEncodingIsAsDocumented(t *testing.T) {
	p := terminalKeys(t, ModeAES, 5)[4]
	s, err := ForTerminal(ModeAES, p.ksn, p.key)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := s.EncryptRequestData([]byte(testTrack))
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != 48 { // 37 bytes + 0x80 + zeros up to 3 AES blocks
		t.Fatalf("ciphertext is %d bytes, want 48", len(ct))
	}
	dk, err := dukpt.AESWorkingKey(p.key, p.ksn, dukpt.UsageDataEncrypt, dukpt.KeyAES128)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(dk)
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, make([]byte, 16)).CryptBlocks(pt, ct)
	want := append([]byte(testTrack), 0x80)
	want = append(want, make([]byte, 48-len(want))...)
	if !bytes.Equal(pt, want) {
		t.Fatalf("plaintext block layout differs: % X", pt[len(testTrack):])
	}

	mk, err := dukpt.AESWorkingKey(p.key, p.ksn, dukpt.UsageMACGen, dukpt.KeyAES128)
	if err != nil {
		t.Fatal(err)
	}
	full, err := mac.AESCMAC(mk, []byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.MACRequest([]byte("msg"))
	if !bytes.Equal(got, full[:8]) {
		t.Fatal("request MAC is not the leftmost 8 bytes of AES-CMAC under the MAC generation key")
	}
}

func TestTDESEncodingIsAsDocumented(t *testing.T) {
	p := terminalKeys(t, ModeTDES, 2)[1]
	s, err := ForTerminal(ModeTDES, p.ksn, p.key)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := dukpt.TDESVariant(p.key, dukpt.VariantMACRequest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := mac.ISO9797Alg3(mk, []byte("msg"), mac.Padding2)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.MACRequest([]byte("msg"))
	if !bytes.Equal(got, want) {
		t.Fatal("TDES request MAC is not the retail MAC under the MAC request variant")
	}
	ct, _ := s.EncryptRequestData([]byte(testTrack))
	if len(ct) != 40 {
		t.Fatalf("TDES ciphertext is %d bytes, want 40", len(ct))
	}
}

func TestInputErrors(t *testing.T) {
	aesP := terminalKeys(t, ModeAES, 1)[0]
	tdesP := terminalKeys(t, ModeTDES, 1)[0]
	if _, err := ForTerminal("rsa", aesP.ksn, aesP.key); !errors.Is(err, ErrMode) {
		t.Errorf("unknown mode: %v", err)
	}
	if _, err := ParseMode("AES"); !errors.Is(err, ErrMode) {
		t.Errorf("ParseMode(AES): %v", err)
	}
	if m, err := ParseMode("tdes"); err != nil || m != ModeTDES {
		t.Errorf("ParseMode(tdes) = %v, %v", m, err)
	}
	if _, err := ForTerminal(ModeTDES, aesP.ksn, aesP.key); !errors.Is(err, ErrKSN) {
		t.Errorf("AES KSN in tdes mode: %v", err)
	}
	if _, err := ForHost(ModeAES, aesBDK, tdesP.ksn); !errors.Is(err, ErrKSN) {
		t.Errorf("TDES KSN in aes mode: %v", err)
	}
	if _, err := ForTerminal(ModeAES, aesP.ksn, aesP.key[:5]); !errors.Is(err, ErrKey) {
		t.Errorf("short key: %v", err)
	}
	if _, err := ForHost(ModeTDES, tdesBDK[:8], tdesP.ksn); !errors.Is(err, ErrKey) {
		t.Errorf("short BDK: %v", err)
	}
	s, err := ForTerminal(ModeAES, aesP.ksn, aesP.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EncryptRequestData(nil); !errors.Is(err, ErrPlaintext) {
		t.Errorf("empty plaintext: %v", err)
	}
	for _, ct := range [][]byte{nil, make([]byte, 15), make([]byte, 16), make([]byte, 33)} {
		if _, err := s.DecryptRequestData(ct); !errors.Is(err, ErrCiphertext) {
			t.Errorf("ciphertext of %d bytes: %v", len(ct), err)
		}
	}
	if _, err := s.DecryptPIN(make([]byte, 8), testPAN); !errors.Is(err, ErrPIN) {
		t.Errorf("8-byte block in aes mode: %v", err)
	}
	s.Wipe()
	if _, err := s.MACRequest([]byte("x")); !errors.Is(err, ErrWiped) {
		t.Errorf("after Wipe: %v", err)
	}
	if _, err := s.EncryptRequestData([]byte("x")); !errors.Is(err, ErrWiped) {
		t.Errorf("after Wipe: %v", err)
	}
	if _, err := s.EncryptPIN("1234", testPAN); !errors.Is(err, ErrWiped) {
		t.Errorf("after Wipe: %v", err)
	}
}

func FuzzDecryptRequestData(f *testing.F) {
	p := terminalKeys(f, ModeAES, 1)[0]
	s, err := ForTerminal(ModeAES, p.ksn, p.key)
	if err != nil {
		f.Fatal(err)
	}
	q := terminalKeys(f, ModeTDES, 1)[0]
	st, err := ForTerminal(ModeTDES, q.ksn, q.key)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := s.EncryptRequestData([]byte(testTrack))
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, ct []byte) {
		for _, sess := range []*Session{s, st} {
			pt, err := sess.DecryptRequestData(ct)
			if err == nil {
				// Whatever decrypts must encrypt back to the same bytes.
				again, err := sess.EncryptRequestData(pt)
				if err != nil || !bytes.Equal(again, ct) {
					t.Fatalf("decrypt/encrypt not inverse: %v", err)
				}
			}
			_ = sess.VerifyRequestMAC(ct, ct)
			_, _ = sess.DecryptPIN(ct, testPAN)
		}
	})
}

// EncryptPINDigits takes the keypad's digit buffer: the host opens the
// block to the same PIN, the buffer is left as it was (the caller wipes
// it), tdes gives the string API's block, and bad digits fail as ErrPIN
// without echoing them.
func TestEncryptPINDigits(t *testing.T) {
	for _, mode := range []Mode{ModeAES, ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			p := terminalKeys(t, mode, 2)[1]
			term, err := ForTerminal(mode, p.ksn, p.key)
			if err != nil {
				t.Fatal(err)
			}
			hst, err := ForHost(mode, bdkFor(mode), p.ksn)
			if err != nil {
				t.Fatal(err)
			}
			for _, pin := range []string{"0000", "9731", "48213", "123456789012"} {
				digits := []byte(pin)
				blk, err := term.EncryptPINDigits(digits, testPAN)
				if err != nil {
					t.Fatal(err)
				}
				if string(digits) != pin {
					t.Fatalf("the caller's digits changed")
				}
				if len(blk) != mode.PINBlockLen() {
					t.Fatalf("PIN block of %d bytes", len(blk))
				}
				if got, err := hst.DecryptPIN(blk, testPAN); err != nil || got != pin {
					t.Fatalf("host opens the block: %v (PIN equal: %v)", err, got == pin)
				}
				if mode == ModeTDES {
					viaString, err := term.EncryptPIN(pin, testPAN)
					if err != nil || !bytes.Equal(viaString, blk) {
						t.Fatalf("string and digit APIs differ: %v", err)
					}
				}
			}
			for _, bad := range []string{"", "123", "12a45", "1234567890123"} {
				_, err := term.EncryptPINDigits([]byte(bad), testPAN)
				if !errors.Is(err, ErrPIN) {
					t.Fatalf("bad PIN of length %d: %v", len(bad), err)
				}
				if bad != "" && strings.Contains(err.Error(), bad) {
					t.Fatalf("error echoes the PIN: %v", err)
				}
			}
			term.Wipe()
			if _, err := term.EncryptPINDigits([]byte("1234"), testPAN); !errors.Is(err, ErrWiped) {
				t.Fatalf("after Wipe: %v", err)
			}
		})
	}
}
