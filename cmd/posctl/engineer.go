package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"posd/terminal/engauth"
)

// engineerUsage is the usage of "posctl engineer": the acquirer's offline
// tools of the engineer authority that signs service console logins.
const engineerUsage = `usage: posctl engineer keygen --out FILE
       posctl engineer token --key FILE --challenge TEXT --role engineer|custodian|admin --id NAME --ttl 8h [--terminal TID | --group NAME]`

// engineerHelp is printed by "posctl engineer help".
const engineerHelp = engineerUsage + `

  keygen  writes a new engineer authority private key (hex of the 32-byte
          Ed25519 seed) to FILE, mode 0600, never over an existing file, and
          prints the public key (hex) to pin in the terminals' parameters
          (console.authority_key).
  token   prints one login token answering the challenge the console printed
          ("posd-login TID NONCE", or the whole line from "challenge:" on;
          quote it), for engineer NAME with ROLE,
          valid for --ttl (at most 24h). The token is for the challenge's
          terminal; --group NAME makes it valid on every terminal of that
          fleet group instead. --key FILE must not be readable by others.
`

// maxKeyFile bounds what is read from a key file.
const maxKeyFile = 4096

// engineer runs "posctl engineer"; rnd and now are crypto/rand and the wall
// clock in production.
type engineer struct {
	rnd io.Reader // nil: crypto/rand
	now func() time.Time
}

func runEngineer(args []string, stdout, stderr io.Writer) int {
	return engineer{now: time.Now}.run(args, stdout, stderr)
}

func (e engineer) run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, engineerHelp)
			return 0
		}
	}
	var (
		out string
		err error
	)
	switch {
	case len(args) == 0:
		err = errors.New("missing command keygen or token")
	case args[0] == "keygen":
		out, err = e.keygen(args[1:])
	case args[0] == "token":
		out, err = e.token(args[1:])
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "posctl engineer: %s\n%s\n", oneLine(err.Error()), engineerUsage)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

// onceFlag is a string option that may be given once: a second value
// would silently win, and the flag package would quote it in its error.
type onceFlag struct {
	name  string
	val   string
	set   bool
	twice *[]string
}

func (o *onceFlag) String() string { return "" }
func (o *onceFlag) Set(s string) error {
	if o.set {
		*o.twice = append(*o.twice, o.name)
	}
	o.val, o.set = s, true
	return nil
}

// parseFlags parses args into the named string options; every error names
// options, never their values.
func parseFlags(args []string, names ...string) (map[string]*onceFlag, error) {
	fs := flag.NewFlagSet("posctl engineer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var twice []string
	opts := map[string]*onceFlag{}
	for _, n := range names {
		opts[n] = &onceFlag{name: n, twice: &twice}
		fs.Var(opts[n], n, "")
	}
	if err := fs.Parse(args); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return nil, fmt.Errorf("unknown option %s", name)
		}
		return nil, errors.New("malformed options")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(twice) > 0 {
		return nil, fmt.Errorf("--%s given twice", twice[0])
	}
	return opts, nil
}

func (e engineer) keygen(args []string) (string, error) {
	opts, err := parseFlags(args, "out")
	if err != nil {
		return "", err
	}
	path := opts["out"].val
	if path == "" {
		return "", errors.New("--out FILE is required")
	}
	pub, priv, err := engauth.GenerateKey(e.rnd)
	if err != nil {
		return "", err
	}
	seed := []byte(hex.EncodeToString(priv.Seed()) + "\n")
	defer clear(seed)
	defer clear(priv)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s exists: an authority key is never overwritten", path)
	}
	if err != nil {
		return "", fmt.Errorf("writing the key: %w", err)
	}
	_, err = f.Write(seed)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("writing the key to %s: %w", path, err)
	}
	return strings.ToUpper(hex.EncodeToString(pub)), nil
}

// readPrivateKey reads an authority key file, refusing one others can read.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	defer clear(raw)
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	priv, err := engauth.ParsePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

func (e engineer) token(args []string) (string, error) {
	opts, err := parseFlags(args, "key", "challenge", "role", "id", "ttl", "terminal", "group")
	if err != nil {
		return "", err
	}
	for _, n := range []string{"key", "challenge", "role", "id", "ttl"} {
		if !opts[n].set || opts[n].val == "" {
			return "", fmt.Errorf("--%s is required", n)
		}
	}
	ch, err := engauth.ParseChallenge(opts["challenge"].val)
	if err != nil {
		return "", fmt.Errorf("--challenge is not what the console printed (posd-login TID NONCE): %w", err)
	}
	role := engauth.Role(opts["role"].val)
	if !role.Valid() {
		return "", fmt.Errorf("--role must be %s, %s or %s", engauth.RoleEngineer, engauth.RoleCustodian, engauth.RoleAdmin)
	}
	ttl, err := time.ParseDuration(opts["ttl"].val)
	if err != nil || ttl < time.Second {
		return "", errors.New("--ttl must be a duration of at least 1s, e.g. 8h or 30m")
	}
	if ttl > engauth.DefaultMaxTTL {
		return "", fmt.Errorf("--ttl longer than %s: terminals refuse such tokens", engauth.DefaultMaxTTL)
	}
	target := ch.Terminal
	switch tid, group := opts["terminal"], opts["group"]; {
	case tid.set && group.set:
		return "", errors.New("--terminal and --group exclude each other")
	case tid.set && tid.val != ch.Terminal:
		return "", fmt.Errorf("--terminal %q differs from the challenge's terminal %q: that terminal would refuse the token", tid.val, ch.Terminal)
	case group.set:
		if !engauth.ValidGroup(group.val) {
			return "", errors.New("--group must be 1-32 printable characters without spaces or colons")
		}
		target = engauth.GroupPrefix + group.val
	}
	priv, err := readPrivateKey(opts["key"].val)
	if err != nil {
		return "", err
	}
	defer clear(priv)
	tok, err := engauth.Sign(priv, engauth.Claims{
		Engineer:  opts["id"].val,
		Role:      role,
		Terminal:  target,
		Expiry:    e.now().Add(ttl),
		Challenge: ch,
	})
	if errors.Is(err, engauth.ErrMalformed) {
		// Everything else was checked above: it is the engineer id.
		return "", fmt.Errorf("--id: %w", err)
	}
	return tok, err
}
