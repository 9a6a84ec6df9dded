package keyload

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/crypto/dukpt"
	"posd/crypto/keystore"
	"posd/crypto/tr31"
	"posd/terminal/dukptkeys"
	"posd/terminal/wiresec"
)

func h(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newLoader(t testing.TB, mode wiresec.Mode) *Loader {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "posd.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek, err := keystore.NewStaticKEK(bytes.Repeat([]byte{0x5A}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(db, kek, &keystore.Opts{Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	src := dukptkeys.New(ks, mode, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	return &Loader{Keys: ks, DUKPT: src}
}

// Test data: the X9.24-1 TDES BDK and a test AES BDK, and two components
// per algorithm.
const (
	tdesBDK  = "0123456789ABCDEFFEDCBA9876543210"
	tdesIKSN = "FFFF9876543210E00000"
	aesBDK   = "FEDCBA9876543210F1F1F1F1F1F1F1F1"
	aesIKID  = "1234567890123456"

	tdesA = "1111111111111111 2222222222222222"
	tdesB = "0123456789ABCDEF 0F1E2D3C4B5A6978"
	aesA  = "00112233445566778899AABBCCDDEEFF 0F0E0D0C0B0A09080706050403020100"
	aesB  = "A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5 5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A"
)

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

type dukptCase struct {
	name    string
	mode    wiresec.Mode
	kbpkAlg byte
	a, b    string
	version byte
	keyAlg  byte
	bdk     string
	block   tr31.OptBlock // the KS or IK block
	iksn    string        // expected initial KSN
}

var dukptCases = []dukptCase{
	{"tdes under TDES KBPK, version B", wiresec.ModeTDES, 'T', tdesA, tdesB, tr31.VersionB, 'T', tdesBDK, tr31.OptBlock{ID: "KS", Data: tdesIKSN}, tdesIKSN},
	{"tdes under TDES KBPK, version C, legacy 8-byte KS", wiresec.ModeTDES, 'T', tdesA, tdesB, tr31.VersionC, 'T', tdesBDK, tr31.OptBlock{ID: "KS", Data: "FFFF9876543210E0"}, tdesIKSN},
	{"tdes under AES KBPK", wiresec.ModeTDES, 'A', aesA, aesB, tr31.VersionD, 'T', tdesBDK, tr31.OptBlock{ID: "KS", Data: tdesIKSN}, tdesIKSN},
	{"aes under AES-256 KBPK", wiresec.ModeAES, 'A', aesA, aesB, tr31.VersionD, 'A', aesBDK, tr31.OptBlock{ID: "IK", Data: aesIKID}, aesIKID + "00000000"},
	{"aes under AES-128 KBPK", wiresec.ModeAES, 'A', aesA[:32], aesB[:32], tr31.VersionD, 'A', aesBDK, tr31.OptBlock{ID: "IK", Data: aesIKID}, aesIKID + "00000000"},
}

// deriveIK derives the initial key for the case from its BDK.
func (c dukptCase) deriveIK(t testing.TB) []byte {
	t.Helper()
	iksn := h(t, c.iksn)
	var (
		ik  []byte
		err error
	)
	if c.mode == wiresec.ModeTDES {
		ik, err = dukpt.TDESDeriveIK(h(t, c.bdk), iksn)
	} else {
		ik, err = dukpt.AESDeriveIK(h(t, c.bdk), iksn)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ik
}

func b1Header(version, alg byte, blocks ...tr31.OptBlock) tr31.Header {
	return tr31.Header{Version: version, KeyUsage: "B1", Algorithm: alg, ModeOfUse: 'X', Exportability: 'N', Blocks: blocks}
}

// secretsIn lists the hex forms (both cases) of every secret of a case,
// which no error or result may contain.
func secretsIn(parts ...[]byte) []string {
	var out []string
	for _, p := range parts {
		for n := 8; n <= len(p); n += 8 {
			x := hex.EncodeToString(p[n-8 : n])
			out = append(out, x, strings.ToUpper(x))
		}
	}
	return out
}

func noSecrets(t *testing.T, what string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(what, s) {
			t.Fatalf("key material in %q", what)
		}
	}
}

func TestLoadDUKPTFromBlock(t *testing.T) {
	for _, c := range dukptCases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader(t, c.mode)
			a, b := h(t, c.a), h(t, c.b)
			kbpk := xor(a, b)
			kcv, err := l.LoadKBPK(c.kbpkAlg, a, b)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := keystore.KCV(c.kbpkAlg, kbpk); kcv != want || len(kcv) != 6 {
				t.Fatalf("KBPK KCV %s, want %s", kcv, want)
			}
			ik := c.deriveIK(t)
			block, err := tr31.Wrap(kbpk, b1Header(c.version, c.keyAlg, c.block, tr31.OptBlock{ID: "KC"}), ik, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.LoadBlock("  " + block + "\r\n")
			if err != nil {
				t.Fatal(err)
			}
			wantKCV, _ := keystore.KCV(c.keyAlg, ik)
			if got != (Loaded{Usage: "B1", KCV: wantKCV, KSN: c.iksn}) {
				t.Fatalf("Loaded %+v", got)
			}
			if k, err := l.DUKPT.KSN(); err != nil || k != c.iksn {
				t.Fatalf("slot KSN %q, %v; want %s", k, err, c.iksn)
			}
			// The first session uses the first KSN after the initial one and
			// agrees with the host deriving from the BDK.
			sess, err := l.DUKPT.Next()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Wipe()
			ksn := sess.KSN()
			if cnt, _ := dukpt.KSNCounter(ksn); cnt != 1 || !bytes.Equal(ksn[:len(ksn)-3], h(t, c.iksn)[:len(ksn)-3]) {
				t.Fatalf("first KSN %X after %s", ksn, c.iksn)
			}
			host, err := wiresec.ForHost(c.mode, h(t, c.bdk), ksn)
			if err != nil {
				t.Fatal(err)
			}
			defer host.Wipe()
			msg := []byte("0200 a sale")
			m, err := sess.MACRequest(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := host.VerifyRequestMAC(msg, m); err != nil {
				t.Fatalf("host refuses the session's MAC: %v", err)
			}
			// The listing shows the KBPK by KCV and the DUKPT slot by KSN.
			infos, err := l.KCVs()
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 2 || infos[0].Name != KBPKName || infos[0].KCV != kcv || infos[0].Usage != "K1" ||
				infos[1].Name != "dukpt" || infos[1].KSN == "" || infos[1].KCV != "" {
				t.Fatalf("KCVs %+v", infos)
			}
			noSecrets(t, strings.Join([]string{got.KCV, got.KSN, infos[0].KCV}, " "), secretsIn(a, b, kbpk, ik))
		})
	}
}

func TestComponentKCV(t *testing.T) {
	// The X9.24-1 BDK's well-known check value.
	kcv, err := ComponentKCV('T', h(t, tdesBDK))
	if err != nil || kcv != "08D7B4" {
		t.Fatalf("KCV %q, %v; want 08D7B4", kcv, err)
	}
	k := h(t, aesA)
	_, want, _ := tr31.KeyCheckValue('A', k)
	if kcv, err := ComponentKCV('A', k); err != nil || kcv != strings.ToUpper(hex.EncodeToString(want[:3])) {
		t.Fatalf("AES KCV %q, %v", kcv, err)
	}
	for _, c := range []struct {
		alg  byte
		n    int
		want error
	}{
		{'T', 8, ErrComponent}, {'T', 32, ErrComponent}, {'T', 0, ErrComponent},
		{'A', 8, ErrComponent}, {'A', 20, ErrComponent}, {'A', 33, ErrComponent},
		{'D', 16, ErrAlgorithm}, {0, 16, ErrAlgorithm},
	} {
		comp := bytes.Repeat([]byte{0x3C}, c.n)
		if _, err := ComponentKCV(c.alg, comp); !errors.Is(err, c.want) {
			t.Errorf("%c %d bytes: %v, want %v", c.alg, c.n, err, c.want)
		}
	}
	if _, err := ComponentKCV('A', make([]byte, 16)); !errors.Is(err, ErrComponent) {
		t.Errorf("all-zero component: %v", err)
	}
}

func TestParseComponent(t *testing.T) {
	for _, in := range []string{"0123456789ABCDEFFEDCBA9876543210", "0123 4567 89ab cdef-fedc ba98 7654 3210\n"} {
		got, err := ParseComponent(in)
		if err != nil || !bytes.Equal(got, h(t, tdesBDK)) {
			t.Errorf("ParseComponent(%q) = %X, %v", in, got, err)
		}
	}
	for _, in := range []string{"", " ", "012", "0123456789ABCDEFFEDCBA987654321G", strings.Repeat("0", 300)} {
		_, err := ParseComponent(in)
		if !errors.Is(err, ErrComponent) {
			t.Errorf("ParseComponent(%q) = %v", in, err)
		}
		if len(in) > 4 && strings.Contains(err.Error(), in) {
			t.Errorf("error quotes the input: %v", err)
		}
	}
}

func TestLoadKBPKRefusals(t *testing.T) {
	l := newLoader(t, wiresec.ModeTDES)
	a, b := h(t, tdesA), h(t, tdesB)
	weak := xor(a, h(t, "0123456789ABCDEF0123456789ABCDEF")) // a XOR weak = weak, halves equal
	cases := []struct {
		name string
		alg  byte
		a, b []byte
		want error
	}{
		{"same components", 'T', a, bytes.Clone(a), ErrComponent},
		{"different lengths", 'T', a, append(bytes.Clone(b), b[:8]...), ErrComponent},
		{"short", 'T', a[:8], b[:8], ErrComponent},
		{"AES length under TDES", 'T', h(t, aesA), h(t, aesB), ErrComponent},
		{"zero first", 'T', make([]byte, 16), b, ErrComponent},
		{"zero second", 'T', a, make([]byte, 16), ErrComponent},
		{"single DES result", 'T', a, weak, ErrComponent},
		{"algorithm", 'X', a, b, ErrAlgorithm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kcv, err := l.LoadKBPK(c.alg, c.a, c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("LoadKBPK = %q, %v; want %v", kcv, err, c.want)
			}
			noSecrets(t, err.Error(), secretsIn(c.a, c.b))
		})
	}
	if _, err := l.Keys.Info(KBPKName); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a refused KBPK was stored: %v", err)
	}
	if _, err := l.LoadBlock("D0112B1AX00N0000"); !errors.Is(err, ErrNoKBPK) {
		t.Fatalf("LoadBlock without KBPK: %v", err)
	}
	if _, err := (&Loader{}).LoadKBPK('T', a, b); !errors.Is(err, ErrNoKBPK) {
		t.Fatalf("no key store: %v", err)
	}
}

func TestLoadBlockRefusals(t *testing.T) {
	tl := newLoader(t, wiresec.ModeTDES)
	al := newLoader(t, wiresec.ModeAES)
	ta, tb := h(t, tdesA), h(t, tdesB)
	aa, ab := h(t, aesA), h(t, aesB)
	tk, ak := xor(ta, tb), xor(aa, ab)
	if _, err := tl.LoadKBPK('T', ta, tb); err != nil {
		t.Fatal(err)
	}
	if _, err := al.LoadKBPK('A', aa, ab); err != nil {
		t.Fatal(err)
	}
	otherT := bytes.Repeat([]byte{0x13, 0x57}, 8)
	otherA := bytes.Repeat([]byte{0x24, 0x68}, 16)
	tIK := dukptCases[0].deriveIK(t)
	aIK := dukptCases[3].deriveIK(t)
	ks := tr31.OptBlock{ID: "KS", Data: tdesIKSN}
	ik := tr31.OptBlock{ID: "IK", Data: aesIKID}

	wrap := func(kbpk []byte, hd tr31.Header, key []byte) string {
		t.Helper()
		b, err := tr31.Wrap(kbpk, hd, key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := wrap(tk, b1Header('B', 'T', ks), tIK)
	tampered := []byte(good)
	tampered[len(tampered)-20] ^= 0x01 // still upper hex: '0'..'9' flip to another digit or letter
	if tampered[len(tampered)-20] > 'F' || (tampered[len(tampered)-20] > '9' && tampered[len(tampered)-20] < 'A') {
		tampered[len(tampered)-20] = '0'
	}

	cases := []struct {
		name  string
		l     *Loader
		block string
		want  []error
	}{
		{"other TDES KBPK (MAC)", tl, wrap(otherT, b1Header('B', 'T', ks), tIK), []error{ErrBlock, tr31.ErrMAC}},
		{"other AES KBPK (MAC)", al, wrap(otherA, b1Header('D', 'A', ik), aIK), []error{ErrBlock, tr31.ErrMAC}},
		{"tampered", tl, string(tampered), []error{ErrBlock}},
		{"PIN key", tl, wrap(tk, tr31.Header{Version: 'B', KeyUsage: "P0", Algorithm: 'T', ModeOfUse: 'E', Exportability: 'N'}, tIK), []error{ErrUsage}},
		{"BDK", tl, wrap(tk, tr31.Header{Version: 'B', KeyUsage: "B0", Algorithm: 'T', ModeOfUse: 'X', Exportability: 'N', Blocks: []tr31.OptBlock{ks}}, tIK), []error{ErrUsage}},
		{"B1 for encryption", tl, wrap(tk, tr31.Header{Version: 'B', KeyUsage: "B1", Algorithm: 'T', ModeOfUse: 'E', Exportability: 'N', Blocks: []tr31.OptBlock{ks}}, tIK), []error{ErrUsage}},
		// A block made to travel on (to an HSM, a key injection facility)
		// is not an initial key made for a terminal.
		{"exportable B1", tl, wrap(tk, tr31.Header{Version: 'B', KeyUsage: "B1", Algorithm: 'T', ModeOfUse: 'X', Exportability: 'E', Blocks: []tr31.OptBlock{ks}}, tIK), []error{ErrUsage}},
		{"sensitive B1", al, wrap(ak, tr31.Header{Version: 'D', KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'S', Blocks: []tr31.OptBlock{ik}}, aIK), []error{ErrUsage}},
		{"missing KS", tl, wrap(tk, b1Header('B', 'T'), tIK), []error{ErrKSN}},
		{"IK instead of KS", tl, wrap(tk, b1Header('B', 'T', ik), tIK), []error{ErrKSN}},
		{"missing IK", al, wrap(ak, b1Header('D', 'A', ks), aIK), []error{ErrKSN}},
		{"KS with a counter", tl, wrap(tk, b1Header('B', 'T', tr31.OptBlock{ID: "KS", Data: "FFFF9876543210E00001"}), tIK), []error{ErrKSN}},
		{"AES key in a TDES slot", tl, wrap(tk, b1Header('B', 'A', ks), aIK), []error{ErrUsage}},
		{"TDES key in an AES slot", al, wrap(ak, b1Header('D', 'T', ik), tIK), []error{ErrUsage}},
		{"version D under TDES KBPK", tl, wrap(ak, b1Header('D', 'T', ks), tIK), []error{ErrBlock}},
		{"version B under AES KBPK", al, wrap(tk, b1Header('B', 'A', ik), aIK), []error{ErrBlock}},
		{"version A", tl, wrap(tk, b1Header('A', 'T', ks), tIK), []error{ErrBlock}},
		{"garbage", tl, "not a key block", []error{ErrBlock}},
		{"empty", tl, "", []error{ErrBlock}},
		{"too long", tl, strings.Repeat("B", 10000), []error{ErrBlock}},
	}
	secrets := secretsIn(ta, tb, aa, ab, tk, ak, otherT, otherA, tIK, aIK)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.l.LoadBlock(c.block)
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Fatalf("LoadBlock = %+v, %v; want %v", got, err, w)
				}
			}
			if got != (Loaded{}) {
				t.Fatalf("result with an error: %+v", got)
			}
			noSecrets(t, err.Error(), secrets)
			if errors.Is(err, tr31.ErrMAC) {
				// The custodian is told which KBPK the block needs.
				e, _ := c.l.Keys.Info(KBPKName)
				if e.KCV == "" || !strings.Contains(err.Error(), "this terminal's KBPK (KCV "+e.KCV+")") {
					t.Fatalf("a block under another KBPK: %v; want it to name the KBPK's KCV %q", err, e.KCV)
				}
			}
			if len(c.block) > 40 {
				p := c.block[len(c.block)-40:]
				if strings.Contains(err.Error(), p) {
					t.Fatalf("error quotes the block: %v", err)
				}
			}
		})
	}
	// Nothing was loaded by any refused block.
	for _, l := range []*Loader{tl, al} {
		if _, err := l.DUKPT.KSN(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
			t.Fatalf("slot after refusals: %v", err)
		}
	}
	if _, err := (&Loader{Keys: tl.Keys}).LoadBlock(good); !errors.Is(err, ErrNoDUKPT) {
		t.Fatalf("no DUKPT slot: %v", err)
	}
}

// A second initial key with the same KSN is refused when the slot has a
// KSN mark (the KSNs were already used); one with a new KSN loads.
func TestReloadSameKSN(t *testing.T) {
	l := newLoader(t, wiresec.ModeTDES)
	l.DUKPT.SetMark(&dukptkeys.FileMark{Path: filepath.Join(t.TempDir(), "ksn.mark")})
	a, b := h(t, tdesA), h(t, tdesB)
	kbpk := xor(a, b)
	if _, err := l.LoadKBPK('T', a, b); err != nil {
		t.Fatal(err)
	}
	ik := dukptCases[0].deriveIK(t)
	block, _ := tr31.Wrap(kbpk, b1Header('B', 'T', tr31.OptBlock{ID: "KS", Data: tdesIKSN}), ik, rand.Reader)
	if _, err := l.LoadBlock(block); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LoadBlock(block); !errors.Is(err, dukptkeys.ErrKSNReuse) {
		t.Fatalf("reload of a used KSN: %v", err)
	}
	next := "FFFF9876543211E00000"
	ik2, _ := dukpt.TDESDeriveIK(h(t, tdesBDK), h(t, next))
	block2, _ := tr31.Wrap(kbpk, b1Header('B', 'T', tr31.OptBlock{ID: "KS", Data: next}), ik2, rand.Reader)
	got, err := l.LoadBlock(block2)
	if err != nil || got.KSN != next {
		t.Fatalf("new KSN: %+v, %v", got, err)
	}
}

// A key block protection key must be at least as strong as the key it
// carries (X9.24 / PCI PIN: a key-encrypting key of equal or greater
// strength; NIST SP 800-57 strengths: double-length TDES 80 bits,
// triple-length 112, AES its key size). An AES DUKPT initial key under a
// TDES KBPK, or an AES-256 one under an AES-128 KBPK, would be only as
// safe as the weaker KBPK: such blocks are refused and nothing is loaded.
// Equal or stronger KBPKs (TestLoadDUKPTFromBlock) still load.
func TestLoadBlockRefusesKeyStrongerThanKBPK(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	ik := tr31.OptBlock{ID: "IK", Data: aesIKID}
	cases := []struct {
		name     string
		kbpkAlg  byte
		kbpkLen  int
		version  byte
		keyLen   int
		strength string
	}{
		{"AES-256 key under an AES-128 KBPK", 'A', 16, tr31.VersionD, 32, "128 < 256"},
		{"AES-192 key under an AES-128 KBPK", 'A', 16, tr31.VersionD, 24, "128 < 192"},
		{"AES-256 key under an AES-192 KBPK", 'A', 24, tr31.VersionD, 32, "192 < 256"},
		{"AES-128 key under a double-length TDES KBPK", 'T', 16, tr31.VersionB, 16, "80 < 128"},
		{"AES-128 key under a triple-length TDES KBPK", 'T', 24, tr31.VersionB, 16, "112 < 128"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader(t, wiresec.ModeAES)
			a, b := random(c.kbpkLen), random(c.kbpkLen)
			if _, err := l.LoadKBPK(c.kbpkAlg, a, b); err != nil {
				t.Fatal(err)
			}
			key := random(c.keyLen)
			block, err := tr31.Wrap(xor(a, b), b1Header(c.version, 'A', ik), key, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.LoadBlock(block)
			if err == nil {
				t.Fatalf("loaded (%+v): a %d-byte AES key under a %d-byte %c KBPK (strength %s)", got, c.keyLen, c.kbpkLen, c.kbpkAlg, c.strength)
			}
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "weaker") {
				t.Fatalf("LoadBlock: %v; want ErrUsage naming the weaker KBPK", err)
			}
			noSecrets(t, err.Error(), secretsIn(a, b, xor(a, b), key))
			if _, err := l.DUKPT.KSN(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
				t.Fatalf("slot after the refusal: %v", err)
			}
		})
	}
}

// A block that names its KBPK (optional block KP, the KBPK's check value)
// tells the custodian which KBPK it was made under when that is not the
// terminal's, and tells an altered block from one for another KBPK.
func TestLoadBlockNamesItsKBPK(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    wiresec.Mode
		alg     byte
		version byte
		a, b    string
		other   []byte
		opt     tr31.OptBlock
		caseIdx int
	}{
		{"TDES", wiresec.ModeTDES, 'T', 'B', tdesA, tdesB, bytes.Repeat([]byte{0x13, 0x57}, 8), tr31.OptBlock{ID: "KS", Data: tdesIKSN}, 0},
		{"AES", wiresec.ModeAES, 'A', 'D', aesA, aesB, bytes.Repeat([]byte{0x24, 0x68}, 16), tr31.OptBlock{ID: "IK", Data: aesIKID}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader(t, c.mode)
			a, b := h(t, c.a), h(t, c.b)
			ours, err := l.LoadKBPK(c.alg, a, b)
			if err != nil {
				t.Fatal(err)
			}
			ik := dukptCases[c.caseIdx].deriveIK(t)
			hd := b1Header(c.version, c.alg, c.opt, tr31.OptBlock{ID: "KP"})
			theirs, err := keystore.KCV(c.alg, c.other)
			if err != nil {
				t.Fatal(err)
			}
			other, err := tr31.Wrap(c.other, hd, ik, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.LoadBlock(other)
			if !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), theirs) || !strings.Contains(err.Error(), ours) {
				t.Fatalf("block under KBPK %s, the terminal's is %s: %v", theirs, ours, err)
			}
			t.Logf("other KBPK: %v", err)
			noSecrets(t, err.Error(), secretsIn(a, b, xor(a, b), c.other, ik))

			good, err := tr31.Wrap(xor(a, b), hd, ik, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			altered := []byte(good)
			i := len(altered) - 5
			altered[i] = map[bool]byte{true: '1', false: '0'}[altered[i] == '0']
			_, err = l.LoadBlock(string(altered))
			if !errors.Is(err, tr31.ErrMAC) || !strings.Contains(err.Error(), "altered") || strings.Contains(err.Error(), "not made under") {
				t.Fatalf("altered block naming the terminal's KBPK: %v", err)
			}
			t.Logf("altered: %v", err)
			if got, err := l.LoadBlock(good); err != nil || got.Usage != "B1" {
				t.Fatalf("the genuine block: %+v, %v", got, err)
			}
		})
	}
}
