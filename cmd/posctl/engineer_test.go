package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/terminal/engauth"
)

// keygen runs "posctl engineer keygen" into a temporary file and returns
// the file and the printed public key.
func keygen(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authority.key")
	out, errb, code := runCLI(t, "engineer", "keygen", "--out", path)
	if code != 0 || errb != "" {
		t.Fatalf("keygen: exit %d, %q", code, errb)
	}
	pub, err := hex.DecodeString(strings.TrimSpace(out))
	if err != nil || len(pub) != 32 || strings.Count(out, "\n") != 1 {
		t.Fatalf("keygen printed %q", out)
	}
	return path, pub
}

func TestEngineerKeygen(t *testing.T) {
	path, pub := keygen(t)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	raw, _ := os.ReadFile(path)
	priv, err := engauth.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.PublicKey(pub).Equal(priv.Public()) {
		t.Fatal("printed public key does not belong to the file's key")
	}
	// Never over an existing key.
	_, errb, code := runCLI(t, "engineer", "keygen", "--out", path)
	if code != 1 || !strings.Contains(errb, "never overwritten") || !strings.Contains(errb, "usage: posctl engineer") {
		t.Fatalf("overwrite: exit %d, %q", code, errb)
	}
	if again, _ := os.ReadFile(path); string(again) != string(raw) {
		t.Fatal("key file changed")
	}
	if _, errb, code := runCLI(t, "engineer", "keygen"); code != 1 || !strings.Contains(errb, "--out FILE is required") {
		t.Fatalf("no --out: exit %d, %q", code, errb)
	}
}

func TestEngineerToken(t *testing.T) {
	path, pub := keygen(t)
	ch, err := engauth.NewChallenge("TERM0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := &engauth.Verifier{Key: pub, Terminal: "TERM0001", Groups: []string{"north-1"}}
	for _, c := range []struct {
		extra  []string
		target string
	}{
		{nil, "TERM0001"},
		{[]string{"--terminal", "TERM0001"}, "TERM0001"},
		{[]string{"--group", "north-1"}, "group:north-1"},
	} {
		args := append([]string{"engineer", "token", "--key", path, "--challenge", ch.String(), "--role", "custodian", "--id", "eng-042", "--ttl", "8h"}, c.extra...)
		before := time.Now()
		out, errb, code := runCLI(t, args...)
		if code != 0 || errb != "" || strings.Count(out, "\n") != 1 {
			t.Fatalf("%v: exit %d, %q, %q", c.extra, code, out, errb)
		}
		claims, err := v.Verify(strings.TrimSpace(out), ch)
		if err != nil {
			t.Fatalf("%v: token refused: %v", c.extra, err)
		}
		if claims.Engineer != "eng-042" || claims.Role != engauth.RoleCustodian || claims.Terminal != c.target {
			t.Fatalf("claims %+v", claims)
		}
		if d := claims.Expiry.Sub(before); d < 8*time.Hour-2*time.Second || d > 8*time.Hour+2*time.Second {
			t.Fatalf("expiry %s after now", d)
		}
	}
	// The challenge may be pasted as printed, with its line end.
	out, _, code := runCLI(t, "engineer", "token", "--key", path, "--challenge", ch.String()+"\r\n", "--role", "admin", "--id", "x", "--ttl", "30m")
	if code != 0 {
		t.Fatal("challenge with a line end refused")
	}
	if _, err := v.Verify(strings.TrimSpace(out), ch); err != nil {
		t.Fatal(err)
	}
	// Or as the whole console line, copied with its label.
	out, errOut, code := runCLI(t, "engineer", "token", "--key", path, "--challenge", "challenge: "+ch.String(), "--role", "admin", "--id", "x", "--ttl", "30m")
	if code != 0 {
		t.Fatalf("the console's challenge line refused: %s", errOut)
	}
	if _, err := v.Verify(strings.TrimSpace(out), ch); err != nil {
		t.Fatal(err)
	}
}

func TestEngineerBadInput(t *testing.T) {
	path, _ := keygen(t)
	raw, _ := os.ReadFile(path)
	seed := strings.TrimSpace(string(raw))
	loose := filepath.Join(t.TempDir(), "loose.key")
	if err := os.WriteFile(loose, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.key")
	os.WriteFile(junk, []byte("not a key at all"), 0o600)
	ch := "posd-login TERM0001 00112233445566778899AABBCCDDEEFF"
	base := map[string]string{"--key": path, "--challenge": ch, "--role": "engineer", "--id": "eng-042", "--ttl": "8h"}
	build := func(change map[string]string, extra ...string) []string {
		args := []string{"engineer", "token"}
		for _, k := range []string{"--key", "--challenge", "--role", "--id", "--ttl"} {
			v, ok := change[k]
			if !ok {
				v = base[k]
			}
			if v != "-" {
				args = append(args, k, v)
			}
		}
		return append(args, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"engineer"}, "missing command"},
		{"unknown command", []string{"engineer", "sign"}, "unknown command"},
		{"missing key", build(map[string]string{"--key": "-"}), "--key is required"},
		{"missing challenge", build(map[string]string{"--challenge": "-"}), "--challenge is required"},
		{"missing role", build(map[string]string{"--role": "-"}), "--role is required"},
		{"missing id", build(map[string]string{"--id": "-"}), "--id is required"},
		{"missing ttl", build(map[string]string{"--ttl": "-"}), "--ttl is required"},
		{"bad challenge", build(map[string]string{"--challenge": "posd-login TERM0001 1234"}), "--challenge is not what the console printed"},
		{"bad role", build(map[string]string{"--role": "root"}), "--role must be"},
		{"bad ttl", build(map[string]string{"--ttl": "eight hours"}), "--ttl must be"},
		{"zero ttl", build(map[string]string{"--ttl": "0s"}), "--ttl must be"},
		{"negative ttl", build(map[string]string{"--ttl": "-1h"}), "--ttl must be"},
		{"long ttl", build(map[string]string{"--ttl": "25h"}), "--ttl longer than 24h"},
		{"bad id", build(map[string]string{"--id": "two words"}), "--id: engauth: malformed: engineer id"},
		{"terminal and group", build(nil, "--terminal", "TERM0001", "--group", "g"), "exclude each other"},
		{"other terminal", build(nil, "--terminal", "TERM0002"), "differs from the challenge's terminal"},
		{"bad group", build(nil, "--group", "a:b"), "--group must be"},
		{"empty group", build(nil, "--group", ""), "--group must be"},
		{"no key file", build(map[string]string{"--key": filepath.Join(t.TempDir(), "none")}), "reading the key"},
		{"loose key file", build(map[string]string{"--key": loose}), "chmod 600"},
		{"junk key file", build(map[string]string{"--key": junk}), "unusable key"},
		{"unknown option", build(nil, "--expiry", "x"), "unknown option -expiry"},
		{"twice", build(nil, "--role", "admin"), "--role given twice"},
		{"extra argument", build(nil, "extra"), "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errb, code := runCLI(t, c.args...)
			if code != 1 || out != "" {
				t.Fatalf("exit %d, stdout %q", code, out)
			}
			if !strings.Contains(errb, c.want) || !strings.Contains(errb, "usage: posctl engineer") {
				t.Fatalf("stderr %q, want %q and the usage", errb, c.want)
			}
			if strings.Contains(strings.ToLower(errb), strings.ToLower(seed[:16])) {
				t.Fatal("stderr quotes the key")
			}
		})
	}
	if out, _, code := runCLI(t, "engineer", "help"); code != 0 || !strings.Contains(out, "posctl engineer token") {
		t.Fatalf("help: %d %q", code, out)
	}
	if out, _, _ := runCLI(t, "help"); !strings.Contains(out, "engineer token --key FILE") || !strings.Contains(out, "engineer keygen --out FILE") {
		t.Fatal("posctl usage lacks the engineer commands")
	}
}
