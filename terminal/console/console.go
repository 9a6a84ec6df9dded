package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
	"posd/terminal/engauth"
)

// Terminal is what the console needs of the daemon (posd's internal/daemon
// implements it). Its texts are meant to be free of card data and keys
// already; the console still passes them through its output guard.
type Terminal interface {
	Status(ctx context.Context) (string, error)
	Devices(ctx context.Context) (string, error)
	SelfTest(ctx context.Context) (string, error)
	// LogTail returns the last n log lines (already masked by the logger).
	LogTail(n int) []string
	// Txns returns the last n transactions, one line each, masked PAN.
	Txns(ctx context.Context, n int) (string, error)
	HostTest(ctx context.Context) (string, error)
	Sync(ctx context.Context) (string, error)
	// Params is the network and parameter view.
	Params(ctx context.Context) (string, error)
	// OTA is the over-the-air update view: what "status" (parameter set,
	// firmware, last check), "history" (newest first) and "check" (ask
	// for a check now) show.
	OTA(ctx context.Context, what string) (string, error)
	Restart(ctx context.Context) error
	// SaleInProgress says (an error naming it) that a transaction is in
	// progress, nil when none is: restart and factory-reset are refused
	// before they ask for a confirmation. Restart and FactoryReset check
	// again when they are called.
	SaleInProgress(ctx context.Context) error
	KeyCheckValues(ctx context.Context) (string, error)
	// KBPKCheckValue is the KCV of the KBPK stored now ("" when there is
	// none).
	KBPKCheckValue(ctx context.Context) (string, error)
	// ComponentKCV returns the KCV of a KBPK component (raw bytes).
	ComponentKCV(component []byte) (string, error)
	// LoadKBPK combines two components into the KBPK, stores it and
	// returns its KCV.
	LoadKBPK(ctx context.Context, a, b []byte) (string, error)
	// LoadKey loads a TR-31 block under the KBPK and describes the key
	// (usage, KCV, KSN).
	LoadKey(ctx context.Context, block string) (string, error)
	// Unsettled says what a factory reset would abandon, changing
	// nothing: how many transactions are not settled (the open batch's,
	// the reversals and advices waiting for the host) and, in words, their
	// counts and amounts (0 and "" when none).
	Unsettled(ctx context.Context) (int, string, error)
	// FactoryReset erases the terminal; abandon also erases unsettled
	// transactions (without it, the daemon refuses while there are any).
	FactoryReset(ctx context.Context, abandon bool) (string, error)
	// Aside lists the transactions to settle by hand (txn.Engine.Aside):
	// id, why, amount, the outcomes each may be settled with.
	Aside(ctx context.Context) (string, error)
	// SetAside describes transaction id on that list, or says (an error)
	// why it is not on it.
	SetAside(ctx context.Context, id string) (string, error)
	// SettleByHand records that transaction id was settled by hand with
	// outcome and reference ref, by (the engineer and role), and says
	// what was recorded (txn.Engine.SettleByHand; its errors never repeat
	// the reference).
	SettleByHand(ctx context.Context, id, outcome, ref, by string) (string, error)
}

// Opts configure a Console.
type Opts struct {
	Terminal Terminal
	// Verifier checks login tokens; its Terminal must be TerminalID. nil
	// (no engineer authority key provisioned yet): the console serves,
	// but login answers that it is unavailable.
	Verifier   *engauth.Verifier
	TerminalID string
	// DB holds the audit log and the lockout state (buckets
	// "console_audit" and "console_lockout", see SchemaVersion).
	DB          *bolt.DB
	Clock       clock.Clock   // nil: wall clock
	Rand        io.Reader     // nil: crypto/rand (login nonces)
	IdleTimeout time.Duration // 0: DefaultIdleTimeout; a logged-in session idle that long is logged out
	Logger      *slog.Logger  // nil: discard
}

// DefaultIdleTimeout logs out a session left alone.
const DefaultIdleTimeout = 5 * time.Minute

// ComponentHold is how long a confirmed first KBPK component waits in
// memory for the second custodian before it is wiped.
const ComponentHold = 15 * time.Minute

// Console is the field engineer's service console. It is safe for Serve on
// several ports at once (they share the lockout, the audit log and the
// held KBPK component).
type Console struct {
	term Terminal
	ver  *engauth.Verifier
	tid  string
	db   *bolt.DB
	clk  clock.Clock
	rnd  io.Reader
	idle time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	held    *heldComponent // dual control: component 1, waiting for component 2
	serving map[any]bool
	// left is a query interrupted but still running (closed when it
	// returns), leftName its command.
	left     <-chan struct{}
	leftName string
	// quiet: ports whose last Serve ended by a hang-up before reading a
	// byte (see session.quietStart).
	quiet map[any]bool
	// noteAt is when the last login that verified no token was audited,
	// noteSkipped how many were not since (see loginNote).
	noteAt      time.Time
	noteSkipped int
}

// New checks the options and prepares the console's buckets.
func New(o Opts) (*Console, error) {
	switch {
	case o.Terminal == nil:
		return nil, fmt.Errorf("%w: no Terminal", ErrConfig)
	case o.DB == nil:
		return nil, fmt.Errorf("%w: no DB", ErrConfig)
	case o.IdleTimeout < 0:
		return nil, fmt.Errorf("%w: negative IdleTimeout", ErrConfig)
	case o.Verifier != nil && o.Verifier.Terminal != o.TerminalID:
		return nil, fmt.Errorf("%w: the Verifier is for terminal %q, the console for %q", ErrConfig, o.Verifier.Terminal, o.TerminalID)
	}
	if _, err := engauth.NewChallenge(o.TerminalID, zeroReader{}); err != nil {
		return nil, fmt.Errorf("%w: terminal id must be 1-%d printable characters without spaces", ErrConfig, engauth.MaxIDLen)
	}
	c := &Console{
		term: o.Terminal, ver: o.Verifier, tid: o.TerminalID, db: o.DB,
		clk: clock.Or(o.Clock), rnd: o.Rand, idle: o.IdleTimeout, log: o.Logger,
		serving: make(map[any]bool), quiet: make(map[any]bool),
	}
	if c.rnd == nil {
		c.rnd = rand.Reader
	}
	if c.idle == 0 {
		c.idle = DefaultIdleTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := initStorage(o.DB); err != nil {
		return nil, err
	}
	return c, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Serve runs the console on rw (a UART, a pseudo-terminal, a test pipe)
// until ctx ends (it returns ctx.Err()) or rw fails (an error wrapping
// ErrIO); sessions follow one another on it, one at a time. Serve never
// closes rw. Its reader goroutine is stopped through rw's SetReadDeadline
// when rw has one (net.Conn, a non-blocking *os.File such as ptysim's
// master) and waited for; rw must honour a deadline it accepts (a raw
// creack/pty master accepts one but stays blocked: Serve would then wait
// for the next byte). On a port without deadlines (the board's UART), a
// Read blocked when ctx ends is left to return when the port is closed;
// the reader then exits without touching anything else. A query left
// running after Ctrl-C (one that does not heed its cancelled context) is
// waited for before Serve returns.
func (c *Console) Serve(ctx context.Context, rw io.ReadWriter) error {
	if rw == nil {
		return fmt.Errorf("%w: nil port", ErrConfig)
	}
	// Ports are told apart by pointer (*os.File, net.Conn implementations,
	// serial ports): hashing any other dynamic type could panic.
	var key any
	quiet := false
	if k := any(rw); reflect.ValueOf(k).Kind() == reflect.Pointer {
		key = k
		c.mu.Lock()
		busy := c.serving[key]
		c.serving[key] = true
		quiet = c.quiet[key] && !busy
		c.mu.Unlock()
		if busy {
			return ErrBusy
		}
		defer func() {
			c.mu.Lock()
			delete(c.serving, key)
			c.mu.Unlock()
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rd, canStop := rw.(interface{ SetReadDeadline(time.Time) error })
	canStop = canStop && rd.SetReadDeadline(time.Time{}) == nil
	wd, hasWD := rw.(interface{ SetWriteDeadline(time.Time) error })
	if hasWD {
		hasWD = wd.SetWriteDeadline(time.Time{}) == nil
	}
	interrupt := func() {
		past := time.Unix(1, 0) // an OS deadline, not a reading of the clock
		if canStop {
			_ = rd.SetReadDeadline(past)
		}
		if hasWD {
			_ = wd.SetWriteDeadline(past)
		}
	}
	interrupted := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() { defer close(interrupted); interrupt() })

	in := make(chan []byte)
	inErr := make(chan error, 1)
	done := make(chan struct{})
	readerDone := make(chan struct{})
	go readLoop(rw, in, inErr, done, readerDone)

	s := &session{c: c, ctx: ctx, w: rw, in: in, inErr: inErr, quietStart: quiet}
	err := s.run()
	if key != nil {
		c.mu.Lock()
		if errors.Is(err, ErrDisconnected) && !s.heard {
			c.quiet[key] = true
		} else {
			delete(c.quiet, key)
		}
		c.mu.Unlock()
	}

	close(done)
	cancel() // runs interrupt: a blocked Read returns
	if !stopAfter() {
		<-interrupted
	}
	if canStop {
		<-readerDone
		_ = rd.SetReadDeadline(time.Time{})
	}
	// The daemon may close what its calls use once Serve returned: a
	// query left running after Ctrl-C (its context is cancelled) ends
	// first.
	if s.left != nil {
		select {
		case <-s.left:
		default:
			c.log.Info("console: waiting for an interrupted query to end", "command", s.leftName)
			<-s.left
		}
	}
	if hasWD {
		_ = wd.SetWriteDeadline(time.Time{})
	}
	return err
}

// readLoop reads rw into chunks until it fails or done closes.
func readLoop(r io.Reader, in chan<- []byte, inErr chan<- error, done <-chan struct{}, exited chan<- struct{}) {
	defer close(exited)
	for {
		buf := make([]byte, 256)
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case in <- buf[:n]:
			case <-done:
				clear(buf)
				return
			}
		}
		if err != nil {
			inErr <- err
			return
		}
	}
}

// status is how a line read ended.
type status int

const (
	stLine      status = iota // a line
	stAbandon                 // Ctrl-C, or a line too long (already said)
	stLoggedOut               // idle timeout or login expiry logged the session out
	stEOF                     // Ctrl-D on an empty line: the command prompt logs out, a question is cancelled
	stClosed                  // ctx ended or the port failed: Serve ends
)

// session is the console on one port: the line editor and who is logged in.
type session struct {
	c     *Console
	ctx   context.Context
	w     io.Writer
	in    <-chan []byte
	inErr <-chan error

	ed    editor
	chunk []byte // the input chunk being consumed (wiped once consumed)
	pend  []byte // its unconsumed rest

	// typed is the input typed while a command runs (see call); typedLost:
	// it overflowed and was dropped; typedCtrlC: it held a Ctrl-C.
	typed      []byte
	typedLost  bool
	typedCtrlC bool
	// broke: a BREAK came while a command ran (see lineBreak).
	broke bool
	// stalled: a write waited for the idle timeout (see unread).
	stalled bool

	// quietStart: the port's last Serve ended by a hang-up before it read
	// a byte. A port nobody holds hangs up each time it is served again
	// (every minute at most): console_start waits for the first byte (and
	// console_stop is written only after a console_start), so that such a
	// port does not push the real entries out of the audit log.
	quietStart bool
	started    bool // console_start is audited
	heard      bool // a byte was read

	// left is the last query this session left behind after Ctrl-C
	// (closed when it returns): Serve waits for it.
	left     <-chan struct{}
	leftName string

	claims *engauth.Claims // nil: logged out
	// maskNext: the next command line is echoed with hex digits as '*'
	// (see echoMaskHex): kbpk component ended before or at its component
	// prompt without a component (refused, logged out), and what is
	// typed next may be the component.
	maskNext   bool
	lastActive time.Time

	timer   <-chan time.Time
	timerAt time.Time

	err error // why the session ends
}

func (s *session) now() time.Time { return s.c.clk.Now() }

// fail records why the session ends (the first reason wins).
func (s *session) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// write sends raw bytes (echo, prompts); a write error ends the session.
func (s *session) write(b []byte) {
	if s.err != nil || len(b) == 0 {
		return
	}
	if _, err := s.w.Write(b); err != nil {
		s.failIO("write", err)
	}
}

// println writes text through the output guard, line by line, CRLF ended.
func (s *session) println(text string) {
	text = strings.TrimRight(text, "\r\n")
	var b []byte
	for line := range strings.SplitSeq(text, "\n") {
		b = append(b, guardLine(strings.TrimSuffix(line, "\r"))...)
		b = append(b, '\r', '\n')
	}
	// Output (not the echo nor a prompt, after which the console waits
	// for the engineer) that nobody read for the idle timeout: the
	// terminal program is gone, though the port did not hang up (a
	// pseudo-terminal's slave held open). Whoever makes it drain must
	// not inherit the session (see unread).
	start := s.now()
	s.write(b)
	if s.claims != nil && s.now().Sub(start) >= s.c.idle {
		s.stalled = true
	}
}

// printf is println of a formatted line.
func (s *session) printf(format string, a ...any) { s.println(fmt.Sprintf(format, a...)) }

// deadline is when the session next has something to do on its own: the
// idle logout, the login's expiry, the held component's wipe.
func (s *session) deadline() (time.Time, bool) {
	var at time.Time
	set := false
	add := func(t time.Time) {
		if !set || t.Before(at) {
			at, set = t, true
		}
	}
	if s.claims != nil {
		add(s.lastActive.Add(s.c.idle))
		add(s.claims.Expiry)
	}
	if t, ok := s.c.heldUntil(); ok {
		add(t)
	}
	return at, set
}

// arm makes sure a timer fires no later than the next deadline. A timer
// already due earlier is kept (when it fires, the deadlines are looked at
// again), so a fake clock sees few timers.
func (s *session) arm() {
	at, ok := s.deadline()
	if !ok || (s.timer != nil && !s.timerAt.After(at)) {
		return
	}
	s.timer, s.timerAt = s.c.clk.After(at.Sub(s.now())), at
}

// onTimer acts on the deadlines that have passed; it reports whether the
// session was logged out.
func (s *session) onTimer() bool {
	now := s.now()
	if who, ok := s.c.expireHeld(now); ok {
		s.printf("\r\nKBPK component 1 (entered by %s) was not completed within %s: wiped", who, ComponentHold)
	}
	if s.claims == nil {
		return false
	}
	switch {
	case !now.Before(s.claims.Expiry):
		s.println("\r\nlogin expired: logged out")
		s.logout("expired")
		return true
	case now.Sub(s.lastActive) >= s.c.idle:
		s.printf("\r\nidle for %s: logged out", s.c.idle)
		s.logout("idle")
		return true
	}
	return false
}

// readLine shows prompt and reads one line in mode. The caller owns the
// returned bytes (and wipes them when they are secret).
func (s *session) readLine(prompt string, mode echoMode) ([]byte, status) {
	if mode == echoOn && s.maskNext {
		mode = echoMaskHex
	}
	s.maskNext = false
	s.ed.start(mode)
	defer s.ed.wipe()
	// The timer is armed before the prompt goes out: whoever sees the
	// prompt knows the session is waiting with its deadlines set.
	s.arm()
	s.write([]byte(guardLine(prompt)))
	var echo []byte
	for {
		if s.err != nil {
			return nil, stClosed
		}
		if s.unread() {
			return nil, stLoggedOut
		}
		for len(s.pend) > 0 {
			b := s.pend[0]
			s.pend[0] = 0
			s.pend = s.pend[1:]
			var ev lineEvent
			echo, ev = s.ed.feed(b, echo[:0])
			if len(echo) > 0 || (ev != evNone && ev != evBreak) {
				// A keystroke: the console had something to show for
				// it. Noise (0xFF from a floating line, stray control
				// bytes) keeps no session alive; a break's NUL ends it.
				s.lastActive = s.now()
			}
			s.write(echo)
			if s.err != nil {
				return nil, stClosed
			}
			switch ev {
			case evLine:
				return s.ed.take(), stLine
			case evAbandon:
				return nil, stAbandon
			case evEOF:
				return nil, stEOF
			case evBreak:
				if s.lineBreak() {
					return nil, stLoggedOut
				}
			case evTooLong:
				s.printf("line too long (more than %d bytes): ignored", MaxLine)
				return nil, stAbandon
			case evNonASCII:
				// Said once per line, then the line as it stands: the
				// same echo as before (masked as it was), after the prompt.
				s.println("\r\nonly ASCII is taken: a non-ASCII character (Chinese, an accented letter) was dropped")
				s.write([]byte(guardLine(prompt)))
				s.write(s.ed.redraw())
			}
		}
		clear(s.chunk)
		s.arm()
		select {
		case chunk := <-s.in:
			s.heardInput()
			s.chunk, s.pend = chunk, chunk
		case err := <-s.inErr:
			s.portFailed(err)
		case <-s.ctx.Done():
			s.fail(s.ctx.Err())
		case <-s.timer:
			s.timer = nil
			if s.onTimer() {
				return nil, stLoggedOut
			}
		}
	}
}

// confirm asks a question and reports whether the answer was exactly want.
func (s *session) confirm(prompt, want string) (bool, status) {
	l, st := s.readLine(prompt, echoOn)
	if st != stLine {
		return false, st
	}
	return strings.TrimSpace(string(l)) == want, stLine
}

func (s *session) prompt() string {
	if s.claims == nil {
		return "posd> "
	}
	return "posd(" + s.claims.Engineer + ":" + string(s.claims.Role) + ")> "
}

// auditf writes an audit entry as the session's engineer.
func (s *session) auditf(event, format string, a ...any) error {
	eng, role := "", ""
	if s.claims != nil {
		eng, role = s.claims.Engineer, string(s.claims.Role)
	}
	return s.c.audit(eng, role, event, fmt.Sprintf(format, a...))
}

// run is the session loop of one Serve.
func (s *session) run() error {
	s.lastActive = s.now()
	if !s.quietStart {
		s.auditStart()
	}
	s.printf("posd service console, terminal %s. Type help.", s.c.tid)
	for s.err == nil {
		s.unread()
		line, st := s.readLine(s.prompt(), echoOn)
		if st == stEOF && s.claims != nil {
			s.cmdLogout(parsed{})
		}
		if st != stLine {
			continue
		}
		s.lastActive = s.now()
		s.exec(string(line))
		s.lastActive = s.now()
		if s.broke {
			s.broke = false
			s.lineBreak()
		}
	}
	if s.claims != nil {
		s.logout(stopReason(s.err))
	}
	s.chunkWipe()
	if s.started {
		_ = s.c.audit("", "", "console_stop", stopReason(s.err))
	}
	return s.err
}

// auditStart writes the session's console_start entry.
func (s *session) auditStart() {
	s.started = true
	if err := s.c.audit("", "", "console_start", ""); err != nil {
		s.c.log.Warn("console: audit unavailable", "err", err)
	}
}

// heardInput notes that the port gave bytes.
func (s *session) heardInput() {
	s.heard = true
	if !s.started {
		s.auditStart()
	}
}

func (s *session) chunkWipe() {
	clear(s.chunk)
	s.chunk, s.pend = nil, nil
	s.ed.wipe()
}

func stopReason(err error) string {
	if errors.Is(err, ErrDisconnected) {
		return "disconnected"
	}
	if errors.Is(err, ErrIO) {
		return "port failed"
	}
	return "shutdown"
}

// lineBreak acts on a BREAK: a logged-in session is logged out at once
// (on a UART nothing reads end of file when the engineer's adapter is
// unplugged or loses power: it holds the line low). It reports whether it
// logged out.
func (s *session) lineBreak() bool {
	if s.claims == nil {
		return false
	}
	s.ed.wipe()
	s.println("\r\nBREAK on the line (a NUL byte: the adapter unplugged or powered off, or Ctrl-@): logged out")
	s.logout("disconnected (break)")
	return true
}

// unread logs the session out when its output was not read for the idle
// timeout; it reports whether it did.
func (s *session) unread() bool {
	stalled := s.stalled
	s.stalled = false
	if !stalled || s.claims == nil {
		return false
	}
	s.ed.wipe()
	s.printf("\r\noutput not read for %s: logged out", s.c.idle)
	s.logout("disconnected (output not read)")
	return true
}

// logout ends the login (reason: command, idle, expired, shutdown, ...).
func (s *session) logout(reason string) {
	if s.claims == nil {
		return
	}
	_ = s.auditf("logout", "%s", reason)
	s.c.log.Info("console logout", "engineer", s.claims.Engineer, "reason", reason)
	s.claims = nil
}
