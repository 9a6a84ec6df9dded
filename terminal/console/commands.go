package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"posd/terminal/engauth"
	"posd/terminal/redact"
	"posd/terminal/typo"
)

// roleSet is the roles allowed to run a command.
type roleSet uint8

const (
	rEngineer roleSet = 1 << iota
	rCustodian
	rAdmin
)

func roleBit(r engauth.Role) roleSet {
	switch r {
	case engauth.RoleEngineer:
		return rEngineer
	case engauth.RoleCustodian:
		return rCustodian
	case engauth.RoleAdmin:
		return rAdmin
	}
	return 0
}

func (rs roleSet) has(r engauth.Role) bool { return rs&roleBit(r) != 0 }

func (rs roleSet) String() string {
	if rs == 0 {
		return "anyone"
	}
	var n []string
	for _, r := range []engauth.Role{engauth.RoleEngineer, engauth.RoleCustodian, engauth.RoleAdmin} {
		if rs.has(r) {
			n = append(n, string(r))
		}
	}
	return strings.Join(n, ",")
}

const (
	diagnostics = rEngineer | rAdmin // admin ⊇ engineer
	keyRoles    = rCustodian         // keys: custodians only, never admin
	statusRoles = rEngineer | rCustodian | rAdmin
	// auditRoles read who did what: the terminal's administrators and
	// its key custodians (who check each other's dual control).
	auditRoles = rCustodian | rAdmin
	// handRoles record a transaction as settled by hand: the terminal's
	// administrator, for the merchant (an engineer diagnoses, a
	// custodian handles keys; neither decides on money).
	handRoles = rAdmin

	// maxHandWords bounds the words of "aside settle"'s arguments.
	maxHandWords = 24
	// maxHandID bounds a transaction id's digits at the console: an id
	// never needs 12, where a card number starts.
	maxHandID = 11

	// maxCount bounds "log N" and "txns N".
	maxCount = 500
)

// command is one console command.
type command struct {
	name    string // one or two words
	args    string // usage of the arguments
	summary string
	roles   roleSet // 0: anyone, logged in or not (and then not a role check)
	maxArgs int
	count   int // > 0: takes an optional count 1..maxCount, this the default
	// secret: the command reads a key component; when it ends before its
	// component prompt, the next line is echoed masked (the component
	// typed right after it).
	secret bool
	run    func(s *session, p parsed)
}

// parsed is a command line understood.
type parsed struct {
	cmd  *command
	args []string
	n    int // the count, for commands that take one
}

var (
	commands []*command
	byName   map[string]*command
	// groups are the first words of two-word commands.
	groups map[string][]string
)

func init() {
	commands = []*command{
		{name: "help", args: "[COMMAND]", summary: "list the commands, or explain one", maxArgs: 2, run: (*session).cmdHelp},
		{name: "login", summary: "log in: prints a challenge, reads the token for it (shown as *)", run: (*session).cmdLogin},
		{name: "logout", summary: "log out", run: (*session).cmdLogout},
		{name: "whoami", summary: "who is logged in, with which role, until when", run: (*session).cmdWhoami},
		{name: "status", summary: "terminal status", roles: statusRoles, run: textCmd("status", Terminal.Status)},
		{name: "devices", summary: "readers, PIN pad, camera and their state", roles: diagnostics, run: textCmd("devices", Terminal.Devices)},
		{name: "selftest", summary: "run the self test", roles: diagnostics, run: textCmd("selftest", Terminal.SelfTest)},
		{name: "log", args: "[N]", summary: fmt.Sprintf("the last N log lines (default 20, at most %d)", maxCount), roles: diagnostics, maxArgs: 1, count: 20, run: (*session).cmdLog},
		{name: "txns", args: "[N]", summary: fmt.Sprintf("the last N transactions, masked (default 10, at most %d)", maxCount), roles: diagnostics, maxArgs: 1, count: 10, run: (*session).cmdTxns},
		{name: "host test", summary: "test the connection to the acquirer host", roles: diagnostics, run: textCmd("host test", Terminal.HostTest)},
		{name: "sync", summary: "forward stored offline transactions now", roles: diagnostics, run: textCmd("sync", Terminal.Sync)},
		{name: "params", summary: "network and parameters in use", roles: diagnostics, run: textCmd("params", Terminal.Params)},
		{name: "ota status", summary: "updates over the air: parameter set, firmware, last check", roles: diagnostics, run: otaCmd("status")},
		{name: "ota history", summary: "updates checked, applied, installed or refused, newest first", roles: diagnostics, run: otaCmd("history")},
		{name: "ota check", summary: "check the update repository now", roles: diagnostics, run: otaCmd("check")},
		{name: "restart", summary: "restart the daemon (asks to type RESTART)", roles: diagnostics, run: (*session).cmdRestart},
		{name: "kcv", summary: "key check values of the loaded keys", roles: keyRoles, run: textCmd("kcv", Terminal.KeyCheckValues)},
		{name: "kbpk component", summary: "enter a KBPK component (dual control: two different custodians)", roles: keyRoles, secret: true, run: (*session).cmdKBPKComponent},
		{name: "kbpk cancel", summary: "wipe a held first KBPK component", roles: keyRoles, run: (*session).cmdKBPKCancel},
		{name: "key load", summary: "load a TR-31 key block under the KBPK (shown as *)", roles: keyRoles, run: (*session).cmdKeyLoad},
		{name: "audit", args: "[N]", summary: fmt.Sprintf("the console's last N audit entries: sessions, commands, refusals (default 20, at most %d)", maxCount),
			roles: auditRoles, maxArgs: 1, count: 20, run: (*session).cmdAudit},
		{name: "aside list", summary: "the transactions to settle by hand", roles: diagnostics, run: textCmd("aside list", Terminal.Aside)},
		{name: "aside settle", args: "ID OUTCOME REFERENCE", summary: "record one as settled by hand (settled; face: refunded or stands)",
			roles: handRoles, maxArgs: maxHandWords, run: (*session).cmdSettle},
		{name: "factory-reset", summary: "erase the terminal and restart (shows what is unsettled, asks for the terminal id)", roles: rAdmin, run: (*session).cmdFactoryReset},
	}
	byName = make(map[string]*command, len(commands))
	groups = make(map[string][]string)
	for _, c := range commands {
		byName[c.name] = c
		if first, second, ok := strings.Cut(c.name, " "); ok {
			groups[first] = append(groups[first], second)
		}
	}
}

var (
	errEmpty   = errors.New("empty line")
	errUnknown = errors.New("unknown command")
)

// usageError: a known command (or the first word of two-word ones) used
// with the wrong arguments.
type usageError struct {
	cmd   *command
	group string
}

func (e *usageError) Error() string {
	if e.cmd == nil {
		var alts []string
		for _, s := range groups[e.group] {
			alts = append(alts, e.group+" "+s)
		}
		return "usage: " + strings.Join(alts, " | ")
	}
	return "usage: " + e.cmd.usage()
}

// usage is the command with its arguments, and the range of its count.
func (c *command) usage() string {
	u := strings.TrimSpace(c.name + " " + c.args)
	if c.count > 0 {
		u += fmt.Sprintf(" (N from 1 to %d)", maxCount)
	}
	return u
}

// either names the roles of rs as "a or b".
func (rs roleSet) either() string { return strings.ReplaceAll(rs.String(), ",", " or ") }

// parseCommand understands a command line: words separated by spaces,
// command words in any case. A known command with wrong arguments comes
// back with its cmd set and a *usageError.
func parseCommand(line string) (parsed, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return parsed{}, errEmpty
	}
	first := strings.ToLower(f[0])
	var p parsed
	if len(f) >= 2 {
		if c := byName[first+" "+strings.ToLower(f[1])]; c != nil {
			p.cmd, p.args = c, f[2:]
		}
	}
	if p.cmd == nil {
		if c := byName[first]; c != nil {
			p.cmd, p.args = c, f[1:]
		}
	}
	if p.cmd == nil {
		if _, ok := groups[first]; ok {
			return parsed{}, &usageError{group: first}
		}
		return parsed{}, errUnknown
	}
	if len(p.args) > p.cmd.maxArgs {
		return p, &usageError{cmd: p.cmd}
	}
	if p.cmd.count > 0 {
		p.n = p.cmd.count
		if len(p.args) == 1 {
			n, err := strconv.Atoi(p.args[0])
			if err != nil || n < 1 || n > maxCount {
				return p, &usageError{cmd: p.cmd}
			}
			p.n = n
		}
	}
	return p, nil
}

// exec runs one command line.
func (s *session) exec(line string) {
	if s.claims != nil && !s.now().Before(s.claims.Expiry) {
		s.println("login expired: logged out")
		s.logout("expired")
	}
	p, err := parseCommand(line)
	if errors.Is(err, errEmpty) {
		return
	}
	if p.cmd == nil {
		// The words are not echoed back nor audited: they could be a
		// secret pasted at the wrong prompt. A group's usage error is
		// audited by its command word, a known word.
		var ue *usageError
		if errors.As(err, &ue) {
			// "kbpk componet": the component may be typed next.
			s.maskNext = groupSecret(ue.group)
			if s.claims != nil {
				_ = s.auditf("command", "%s: usage error", ue.group)
			}
			s.println(ue.Error())
			if f := strings.Fields(line); len(f) >= 2 {
				if near := nearestSub(ue.group, f[1]); near != "" {
					s.printf("did you mean %s?", near)
				}
			}
			return
		}
		if s.claims != nil {
			_ = s.auditf("command", "unknown")
		}
		if near := nearest(line); near != "" {
			s.printf("unknown command: did you mean %s? (type help for the list)", near)
			return
		}
		s.println("unknown command: type help")
		return
	}
	c := p.cmd
	// Until its component prompt takes it over, the line after a command
	// that reads a component is masked: when the command is refused, the
	// component typed right after it lands at the command prompt.
	s.maskNext = c.secret
	if c.roles != 0 {
		if s.claims == nil {
			s.printf("%s: not logged in (type login)", c.name)
			return
		}
		if !c.roles.has(s.claims.Role) {
			_ = s.auditf("refused", "%s: not allowed for %s", c.name, s.claims.Role)
			s.printf("%s: not allowed for %s (needs %s)", c.name, s.claims.Role, c.roles.either())
			return
		}
	}
	if s.claims != nil {
		detail := c.name
		if err != nil {
			detail += ": usage error"
		}
		// Fail closed, except for logout: giving up a login never waits
		// for the audit log.
		if aerr := s.auditf("command", "%s", detail); aerr != nil && c.name != "logout" {
			s.println("audit log unavailable: command refused")
			return
		}
	}
	if err != nil {
		s.println(err.Error())
		return
	}
	c.run(s, p)
}

// groupSecret reports whether the group of two-word commands named by its
// first word holds a command that reads a key component.
func groupSecret(group string) bool {
	for _, second := range groups[group] {
		if c := byName[group+" "+second]; c != nil && c.secret {
			return true
		}
	}
	return false
}

// nearest names the command closest to the first word of an unknown
// line ("stauts": status), or "" when none is close: one typo (a letter
// wrong, missing, extra, or two swapped) in a word of up to 4 letters, two
// in a longer one. Only command names come back, never what was typed.
func nearest(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 || len(f[0]) > 20 {
		return ""
	}
	w := strings.ToLower(f[0])
	if names := prefixed(w); len(names) > 0 {
		return names
	}
	best, bestD := "", 3
	for _, c := range commands {
		first, _, _ := strings.Cut(c.name, " ")
		d := typo.Distance(w, first)
		limit := 2
		if len(first) <= 4 {
			limit = 1
		}
		if d > limit || d >= bestD {
			continue
		}
		best, bestD = first, d
	}
	return expand(best)
}

// prefixed names the commands whose first word starts with w (at least 2
// letters, and not a whole word: that would be no typo), "" when none:
// "sta" is status before it is one typo from ota.
func prefixed(w string) string {
	if len(w) < 2 {
		return ""
	}
	var firsts []string
	for _, c := range commands {
		first, _, _ := strings.Cut(c.name, " ")
		if len(first) > len(w) && strings.HasPrefix(first, w) && !slices.Contains(firsts, first) {
			firsts = append(firsts, first)
		}
	}
	if len(firsts) == 1 {
		return expand(firsts[0])
	}
	var names []string
	for _, f := range firsts {
		if alts := groups[f]; len(alts) > 0 {
			for _, a := range alts {
				names = append(names, f+" "+a)
			}
			continue
		}
		names = append(names, f)
	}
	if len(names) == 0 {
		return ""
	}
	return "one of " + strings.Join(names, ", ")
}

// nearestSub names the subcommand of group closest to word (one typo in
// a word of up to 4 letters, two in a longer one, or its start), "" when
// none is close. Only command names come back.
func nearestSub(group, word string) string {
	if len(word) > 20 {
		return ""
	}
	w := strings.ToLower(word)
	best, bestD := "", 3
	for _, second := range groups[group] {
		d := typo.Distance(w, second)
		limit := 2
		if len(second) <= 4 {
			limit = 1
		}
		if len(w) >= 2 && strings.HasPrefix(second, w) {
			d = 0
		}
		if d > limit || d >= bestD {
			continue
		}
		best, bestD = second, d
	}
	if best == "" {
		return ""
	}
	return group + " " + best
}

// expand is a command's first word as the commands it starts: the word,
// the one command of its group, or "one of" the group's.
func expand(best string) string {
	if best == "" {
		return ""
	}
	if alts := groups[best]; len(alts) == 1 {
		return best + " " + alts[0]
	} else if len(alts) > 0 {
		names := make([]string, len(alts))
		for i, a := range alts {
			names[i] = best + " " + a
		}
		return "one of " + strings.Join(names, ", ")
	}
	return best
}

// textCmd runs a Terminal query and prints its text.
// otaCmd runs one of the OTA views.
func otaCmd(what string) func(*session, parsed) {
	return textCmd("ota "+what, func(t Terminal, ctx context.Context) (string, error) { return t.OTA(ctx, what) })
}

// textCmd runs a Terminal query and prints its text; Ctrl-C interrupts it
// (see call). sync and ota check start something in the daemon: their
// outcome is waited for.
func textCmd(name string, f func(Terminal, context.Context) (string, error)) func(*session, parsed) {
	mode := callLeave
	if name == "sync" || name == "ota check" {
		mode = callWait
	}
	return func(s *session, _ parsed) {
		out, err, intr := s.call(name, mode, func(ctx context.Context) (string, error) { return f(s.c.term, ctx) })
		s.printOutcome(name, out, err, intr)
	}
}

// printOutcome says how a call into the daemon ended; an interruption
// that left it without an outcome is audited.
func (s *session) printOutcome(name, out string, err error, interrupted bool) {
	if s.err != nil {
		return
	}
	if interrupted && (err != nil || out == "") {
		s.write([]byte("^C\r\n"))
		s.printf("%s interrupted", name)
		_ = s.auditf("command", "%s: interrupted", name)
		return
	}
	if err != nil {
		s.printf("%s failed: %v", name, err)
		return
	}
	s.println(out)
}

func (s *session) cmdHelp(p parsed) {
	if len(p.args) > 0 {
		name := strings.ToLower(strings.Join(p.args, " "))
		c := byName[name]
		if c == nil {
			if _, ok := groups[name]; ok {
				s.println((&usageError{group: name}).Error())
				var b strings.Builder
				for _, second := range groups[name] {
					sub := byName[name+" "+second]
					fmt.Fprintf(&b, "  %-*s  %s\n", helpNameWidth(), sub.usage(), sub.summary)
				}
				b.WriteString("help " + name + " SUBCOMMAND explains one")
				s.println(b.String())
				return
			}
			s.println("no such command: type help")
			return
		}
		s.printf("usage: %s", c.usage())
		s.printf("  %s", c.summary)
		s.printf("  roles: %s", c.roles)
		if c.name == "aside settle" {
			s.println("  OUTCOME: settled (an offline approval), refunded or stands (a face payment);")
			s.println("  REFERENCE: the acquirer's or the platform's ticket, never card data")
		}
		if c.name == "kbpk component" {
			s.printf("  the first custodian enters component 1 and confirms its KCV; it is held in memory for %s;", ComponentHold)
			s.println("  a different custodian then logs in and enters component 2; the KBPK is loaded from both.")
		}
		if c.name == "factory-reset" {
			s.println("  refused while a transaction is in progress; says what it erases and which unsettled")
			s.println("  transactions there are (the open batch, reversals and advices waiting for the host: count")
			s.println("  and amount). Only when there are unsettled transactions, asks whether to abandon them:")
			s.println("  yes or no (no cancels). Last, asks you to type the terminal id (anything else cancels).")
			s.println("  The daemon then restarts and erases its keys, parameters and transactions; the audit log")
			s.println("  is kept; you are logged out.")
		}
		return
	}
	var b strings.Builder
	b.WriteString("commands (roles that may run them):\n")
	roleWidth := 0
	for _, c := range commands {
		roleWidth = max(roleWidth, len(c.roles.String()))
	}
	for _, c := range commands {
		mark := " "
		if s.claims != nil && (c.roles == 0 || c.roles.has(s.claims.Role)) {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %-*s %-*s %s\n", mark, helpNameWidth(), strings.TrimSpace(c.name+" "+c.args), roleWidth, c.roles, c.summary)
	}
	if s.claims != nil {
		b.WriteString("* = allowed for you\n")
	}
	b.WriteString("help COMMAND explains one")
	s.println(b.String())
}

// helpNameWidth is the width of help's command column: its longest
// entry, a command with its arguments.
func helpNameWidth() int {
	w := 0
	for _, c := range commands {
		w = max(w, len(strings.TrimSpace(c.name+" "+c.args)))
	}
	return w
}

// reason classes of a refused token, for the screen and the audit log.
func reasonClass(err error) (short, long string) {
	switch {
	case errors.Is(err, engauth.ErrMalformed):
		return "malformed", "not a token"
	case errors.Is(err, engauth.ErrSignature):
		return "signature", "signature does not verify"
	case errors.Is(err, engauth.ErrExpired):
		return "expired", "token expired (or valid for too long)"
	case errors.Is(err, engauth.ErrTerminal):
		return "terminal", "token is for another terminal"
	case errors.Is(err, engauth.ErrChallenge):
		return "challenge", "token answers another challenge (each token is valid once)"
	case errors.Is(err, engauth.ErrRole):
		return "role", "unknown role"
	}
	return "other", "refused"
}

// ChallengeLifetime is how long a login challenge may wait for its token.
const ChallengeLifetime = 5 * time.Minute

func (s *session) cmdLogin(parsed) {
	if s.claims != nil {
		s.printf("already logged in as %s: logout first", s.claims.Engineer)
		return
	}
	if s.c.ver == nil {
		s.loginNote("unavailable: no engineer authority key")
		s.println("login unavailable: no engineer authority key is provisioned on this terminal")
		return
	}
	now := s.now()
	left, err := s.c.lockedFor(now)
	if err != nil {
		s.loginNote("unavailable: lockout state unreadable")
		s.println("login unavailable: the console cannot read its lockout state")
		return
	}
	if left > 0 {
		s.loginNote("locked (no challenge given, nothing verified)")
		s.printf("login locked after repeated failures: try again in %s", roundUp(left))
		return
	}
	ch, err := engauth.NewChallenge(s.c.tid, s.c.rnd)
	if err != nil {
		s.loginNote("unavailable: no random source")
		s.println("login unavailable: no random source")
		return
	}
	// The challenge line is the console's own (terminal id and a fresh
	// nonce): it skips the hex rules of the output guard, not the rest.
	s.write(append(printable(engauth.ChallengeLabel+" "+ch.String()), '\r', '\n'))
	s.println("paste the token for this challenge (shown as *)")
	raw, st := s.readLine("token: ", echoStar)
	if st != stLine {
		if st != stClosed {
			s.loginNote("abandoned (challenge given, no token)")
		}
		if st == stAbandon || st == stEOF {
			s.println("login abandoned")
		}
		return
	}
	token := strings.TrimSpace(string(raw))
	clear(raw)
	if token == "" {
		s.loginNote("abandoned (challenge given, no token)")
		s.println("login abandoned")
		return
	}
	if age := s.now().Sub(now); age > ChallengeLifetime || age < 0 {
		// A challenge is an answer expected now, not whenever a token
		// turns up for a prompt left open at an unattended terminal.
		_ = s.c.audit("", "", "login_failed", "challenge expired (token not checked)"+s.c.skippedNotes())
		s.printf("login failed: the challenge is more than %s old: type login for a new one", ChallengeLifetime)
		return
	}
	// The lock holds for every token that arrives while it lasts, also
	// one answering a challenge printed before it began (on another port).
	if left, err := s.c.lockedFor(s.now()); err != nil {
		s.loginNote("unavailable: lockout state unreadable")
		s.println("login unavailable: the console cannot read its lockout state")
		return
	} else if left > 0 {
		s.loginNote("locked (token not checked)")
		s.printf("login locked after repeated failures: try again in %s", roundUp(left))
		return
	}
	claims, err := s.c.ver.Verify(token, ch)
	if err == nil && (!claims.Role.Valid() || claims.Challenge != ch || !s.now().Before(claims.Expiry)) {
		err = engauth.ErrChallenge // never expected: Verify checks all of these
	}
	if err != nil {
		short, long := reasonClass(err)
		claimed := ""
		if c, perr := engauth.Parse(token); perr == nil {
			claimed = "; claimed engineer " + c.Engineer
			if errors.Is(err, engauth.ErrTerminal) {
				// Signed by the authority (checked before the terminal):
				// what it names tells the engineer which token to ask for.
				groups := "none"
				if len(s.c.ver.Groups) > 0 {
					groups = strings.Join(s.c.ver.Groups, ", ")
				}
				long = fmt.Sprintf("%s: it names %s; this terminal is %s (groups: %s)", long, c.Terminal, s.c.tid, groups)
			}
			if errors.Is(err, engauth.ErrExpired) {
				// Signed too: the engineer needs to know whether the
				// token is stale or this terminal's clock is off.
				long = expiryProblem(c.Expiry, s.now(), s.c.ver.MaxTTL)
			}
		}
		n, lock, ferr := s.c.failedLogin(s.now())
		_ = s.c.audit("", "", "login_failed", fmt.Sprintf("%s%s; failure %d in a row%s", short, claimed, n, s.c.skippedNotes()))
		s.c.log.Warn("console login failed", "reason", short, "failures", n)
		s.printf("login failed: %s", long)
		switch {
		case ferr != nil:
			s.println("(the console could not record the failure)")
		case lock > 0:
			s.printf("%d failed logins in a row: login locked for %s", n, roundUp(lock))
		}
		return
	}
	s.claims = &claims
	if err := s.auditf("login", "until %s%s", claims.Expiry.UTC().Format(time.RFC3339), s.c.skippedNotes()); err != nil {
		s.claims = nil
		s.println("login refused: the audit log is unavailable")
		return
	}
	if err := s.c.loginSucceeded(); err != nil {
		s.c.log.Warn("console: could not clear the login failures", "err", err)
	}
	s.lastActive = s.now()
	s.c.log.Info("console login", "engineer", claims.Engineer, "role", string(claims.Role))
	s.printf("logged in as %s (%s) until %s; idle logout after %s",
		claims.Engineer, claims.Role, claims.Expiry.UTC().Format(time.RFC3339), s.c.idle)
}

// loginNoteEvery is how often a login that verified no token (refused
// while locked, abandoned, unavailable) is written to the audit log one by
// one: whoever holds the port can type "login" thousands of times a
// second, and each entry is a flash write that pushes an older one out of
// the log (MaxAudit). Within it, such logins are counted, and the count is
// written with the next such entry.
const loginNoteEvery = time.Minute

// loginNote audits a login that verified no token as login_failed with
// why, at most once per loginNoteEvery (see there); the entries skipped
// before are counted in its detail.
func (s *session) loginNote(why string) {
	now := s.now()
	c := s.c
	c.mu.Lock()
	if !c.noteAt.IsZero() && now.Sub(c.noteAt) < loginNoteEvery && now.Sub(c.noteAt) >= 0 {
		c.noteSkipped++
		c.mu.Unlock()
		return
	}
	c.noteAt = now
	c.mu.Unlock()
	_ = c.audit("", "", "login_failed", why+c.skippedNotes())
}

// skippedNotes takes the count of logins loginNote did not write, worded
// for the end of the next login entry's detail ("" when none).
func (c *Console) skippedNotes() string {
	c.mu.Lock()
	n := c.noteSkipped
	c.noteSkipped = 0
	c.mu.Unlock()
	switch {
	case n == 1:
		return "; 1 more login without a verified token before, not written by itself"
	case n > 1:
		return fmt.Sprintf("; %d more logins without a verified token before, not written one by one", n)
	}
	return ""
}

// expiryProblem says why a signed token's expiry was refused at now.
func expiryProblem(expiry, now time.Time, maxTTL time.Duration) string {
	if maxTTL <= 0 {
		maxTTL = engauth.DefaultMaxTTL
	}
	clk := now.UTC().Format(time.RFC3339)
	if !expiry.After(now) {
		return fmt.Sprintf("token expired at %s; this terminal's clock reads %s: ask for a new token (or have the clock set)",
			expiry.UTC().Format(time.RFC3339), clk)
	}
	return fmt.Sprintf("token valid until %s, more than %s ahead; this terminal's clock reads %s: ask for a shorter token (or have the clock set)",
		expiry.UTC().Format(time.RFC3339), maxTTL, clk)
}

// roundUp shows a wait in whole seconds, never less than one.
func roundUp(d time.Duration) time.Duration {
	r := d.Truncate(time.Second)
	if r < d || r == 0 {
		r += time.Second
	}
	return r
}

func (s *session) cmdLogout(parsed) {
	if s.claims == nil {
		s.println("not logged in")
		return
	}
	eng := s.claims.Engineer
	s.logout("command")
	s.println("logged out")
	if who, until, ok := s.c.heldBy(); ok && sameEngineer(who, eng) {
		s.printf("your KBPK component 1 stays held until %s for a different custodian", until.UTC().Format(time.RFC3339))
	}
}

func (s *session) cmdWhoami(parsed) {
	if s.claims == nil {
		s.println("not logged in")
		return
	}
	s.printf("%s (%s) on terminal %s; login valid until %s; idle logout after %s",
		s.claims.Engineer, s.claims.Role, s.c.tid, s.claims.Expiry.UTC().Format(time.RFC3339), s.c.idle)
	if who, until, ok := s.c.heldBy(); ok && s.claims.Role == engauth.RoleCustodian {
		s.printf("KBPK component 1 held (entered by %s) until %s", who, until.UTC().Format(time.RFC3339))
	}
}

func (s *session) cmdLog(p parsed) {
	lines := s.c.term.LogTail(p.n)
	if len(lines) == 0 {
		s.println("no log lines")
		return
	}
	s.println(strings.Join(lines, "\n"))
}

// cmdAudit prints the newest audit entries, oldest first: when, who
// (engineer and role), what. Entries never hold a secret; the output
// guard still applies.
func (s *session) cmdAudit(p parsed) {
	entries, err := s.c.Audit(p.n)
	if err != nil {
		s.printf("audit failed: %v", err)
		return
	}
	if len(entries) == 0 {
		s.println("no audit entries")
		return
	}
	var b strings.Builder
	for _, e := range entries {
		who := e.Engineer
		if who == "" {
			who = "-"
		}
		role := e.Role
		if role == "" {
			role = "-"
		}
		fmt.Fprintf(&b, "%s %s %s %s", e.Time.UTC().Format(time.RFC3339), who, role, e.Event)
		if e.Detail != "" {
			fmt.Fprintf(&b, ": %s", e.Detail)
		}
		b.WriteByte('\n')
	}
	s.println(b.String())
}

func (s *session) cmdTxns(p parsed) {
	out, err, intr := s.call("txns", callLeave, func(ctx context.Context) (string, error) { return s.c.term.Txns(ctx, p.n) })
	s.printOutcome("txns", out, err, intr)
}

// refusedDuringSale refuses event (restart, factory_reset) before its
// confirmation while a transaction is in progress: an engineer typing
// RESTART or the terminal id only to be told a sale runs would wait and
// type it all again. It reports whether it refused.
func (s *session) refusedDuringSale(event, what string) bool {
	err := s.c.term.SaleInProgress(s.ctx)
	if err == nil {
		return false
	}
	_ = s.auditf(event, "refused: %v", err)
	s.printf("%s refused: %v", what, err)
	return true
}

func (s *session) cmdRestart(parsed) {
	if s.refusedDuringSale("restart", "restart") {
		return
	}
	ok, st := s.confirm("type RESTART to confirm: ", "RESTART")
	if st != stLine || !ok {
		if st != stClosed {
			_ = s.auditf("restart", "cancelled")
			s.println("restart cancelled")
		}
		return
	}
	if err := s.auditf("restart", "requested"); err != nil {
		s.println("audit log unavailable: restart refused")
		return
	}
	if err := s.c.term.Restart(s.ctx); err != nil {
		_ = s.auditf("restart", "failed: %v", err)
		s.printf("restart failed: %v", err)
		return
	}
	s.println("restarting")
}

// cmdFactoryReset says what a reset erases and what is unsettled, asks
// whether to abandon the unsettled transactions only when there are any
// (no cancels: a no never erases), and always ends with the terminal id
// typed (anything else cancels). Every way out is audited, naming the
// step.
func (s *session) cmdFactoryReset(parsed) {
	if s.refusedDuringSale("factory_reset", "factory reset") {
		return
	}
	cancelled := func(st status, step, why string) {
		if st == stClosed {
			return
		}
		_ = s.auditf("factory_reset", "cancelled at %s (%s)", step, why)
		s.println("factory reset cancelled")
	}
	n, what, err := s.c.term.Unsettled(s.ctx)
	if err != nil {
		_ = s.auditf("factory_reset", "refused: unsettled transactions unreadable: %v", err)
		s.printf("factory reset refused: cannot read what is unsettled: %v", err)
		return
	}
	s.println("factory reset erases this terminal's keys, parameters and transactions, then restarts it (the audit log is kept)")
	abandon := false
	if n == 0 {
		s.println("nothing is unsettled: the open batch holds no transaction, no reversal or advice waits for the host")
	} else {
		abandonStep := fmt.Sprintf("the question whether to abandon %d unsettled", n)
		s.printf("unsettled: %s", what)
		s.println("abandoned, they never reach the acquirer; to keep them, answer no and settle first (close the batch, sync)")
		l, st := s.readLine("abandon them and erase? yes/no: ", echoOn)
		if st != stLine {
			cancelled(st, abandonStep, "no answer")
			return
		}
		switch strings.ToLower(strings.TrimSpace(string(l))) {
		case "yes":
			abandon = true
		case "no":
			cancelled(stLine, abandonStep, "answered no")
			return
		default:
			_ = s.auditf("factory_reset", "cancelled at %s (answered neither yes nor no)", abandonStep)
			s.println("answer yes or no: factory reset cancelled")
			return
		}
	}
	l, st := s.readLine("type the terminal id to confirm (anything else cancels): ", echoOn)
	if st != stLine {
		cancelled(st, "the terminal id", "no answer")
		return
	}
	switch strings.TrimSpace(string(l)) {
	case s.c.tid:
	case "":
		cancelled(stLine, "the terminal id", "no answer")
		return
	default:
		cancelled(stLine, "the terminal id", "not typed")
		return
	}
	if abandon {
		// What was shown is what is abandoned: a reversal queued or a
		// sale counted meanwhile was not agreed to.
		n2, what2, err := s.c.term.Unsettled(s.ctx)
		if err != nil || n2 != n || what2 != what {
			_ = s.auditf("factory_reset", "cancelled at the terminal id (the unsettled transactions changed meanwhile)")
			s.println("the unsettled transactions changed meanwhile: factory reset cancelled (run it again to see them)")
			return
		}
	}
	detail := "requested, abandon unsettled=false (nothing unsettled)"
	if abandon {
		detail = fmt.Sprintf("requested, abandon unsettled=true (%d unsettled)", n)
	}
	if err := s.auditf("factory_reset", "%s", detail); err != nil {
		s.println("audit log unavailable: factory reset refused")
		return
	}
	out, err := s.c.term.FactoryReset(s.ctx, abandon)
	if err != nil {
		_ = s.auditf("factory_reset", "failed: %v", err)
		s.printf("factory reset failed: %v", err)
		return
	}
	_ = s.auditf("factory_reset", "done")
	s.println(out)
	s.logout("factory reset")
	s.println("logged out")
}

// Outcomes "aside settle" takes (terminal/txn's Hand...).
var handOutcomes = []string{"settled", "refunded", "stands"}

// cmdSettle records a transaction set aside as settled by hand: it shows
// the transaction, asks for its id again, and audits the request (id and
// outcome) before the daemon records it, then the outcome; the reference
// is audited only once the daemon took it (it refuses card data).
func (s *session) cmdSettle(p parsed) {
	if len(p.args) < 3 {
		s.println((&usageError{cmd: p.cmd}).Error())
		return
	}
	id, outcome, ref := p.args[0], strings.ToLower(p.args[1]), strings.Join(p.args[2:], " ")
	if !isID(id) || !slices.Contains(handOutcomes, outcome) {
		s.println((&usageError{cmd: p.cmd}).Error())
		s.printf("  OUTCOME: %s", strings.Join(handOutcomes, ", "))
		return
	}
	if redact.Digits(ref) != ref {
		// Card data is refused before anything is asked: the daemon
		// checks again (and more) when it records the note.
		_ = s.auditf("settle_by_hand", "%s %s: refused: the reference looks like a card number", id, outcome)
		s.println("aside settle refused: the reference looks like a card number; card data is never recorded")
		return
	}
	desc, err, intr := s.call("aside settle", callLeave, func(ctx context.Context) (string, error) { return s.c.term.SetAside(ctx, id) })
	if intr || s.err != nil {
		s.printOutcome("aside settle", "", err, intr)
		return
	}
	if err != nil {
		_ = s.auditf("settle_by_hand", "%s: refused: %v", id, err)
		s.printf("aside settle refused: %v", err)
		return
	}
	s.println(desc)
	ok, st := s.confirm("type the transaction id to confirm: ", id)
	if st != stLine || !ok || s.claims == nil {
		if st != stClosed {
			_ = s.auditf("settle_by_hand", "%s %s: cancelled", id, outcome)
			s.println("settle by hand cancelled")
		}
		return
	}
	if err := s.auditf("settle_by_hand", "%s %s: requested", id, outcome); err != nil {
		s.println("audit log unavailable: settle by hand refused")
		return
	}
	by := s.claims.Engineer + " (" + string(s.claims.Role) + ")"
	out, err, _ := s.call("aside settle", callWait, func(ctx context.Context) (string, error) {
		return s.c.term.SettleByHand(ctx, id, outcome, ref, by)
	})
	if err != nil {
		_ = s.auditf("settle_by_hand", "%s %s: failed: %v", id, outcome, err)
		s.printf("settle by hand failed: %v", err)
		return
	}
	_ = s.auditf("settle_by_hand", "%s %s reference %s: recorded", id, outcome, ref)
	s.println(out)
}

// isID reports whether s can be a transaction id at the console.
func isID(s string) bool {
	if s == "" || len(s) > maxHandID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
