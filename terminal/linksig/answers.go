package linksig

import (
	"bytes"
	"container/list"
	"context"
	"sync"
	"time"
)

// Defaults and limits of Answers.
const (
	// DefaultAnswers is how many answers an Answers remembers in all.
	DefaultAnswers = 16384
	// DefaultAnswersPerTerminal is how many of one terminal's.
	DefaultAnswersPerTerminal = 256
	// MaxAnswer is the longest answer body remembered; a longer one is
	// not (its request is executed again when repeated).
	MaxAnswer = 1024
)

// Answer is a platform's answer to a request: its HTTP status and body.
// Its signature is not kept: SignResponse makes the same one again from
// the body and the request's signature, which a repeat shares.
type Answer struct {
	Status int
	Body   []byte
}

// Answers remembers a platform's answers to signed requests for as long
// as a request could come again, so that a verbatim repeat — the same
// terminal and request signature, hence the same path, timestamp and
// body — is answered as the first one was instead of being executed a
// second time.
//
// VerifyRequest accepts a request again and again until its timestamp is
// Window off: a terminal's retry that went out in the same second (its
// clients sign every attempt anew, but within one second the bytes are
// the same), or a copy replayed off the wire. Refusing a repeat would
// refuse the terminal's own retries; executing it again leans on every
// call being idempotent, and even an idempotent call done again has
// effects (a face match run again, a rate limit's token taken, an open
// session replaced). Answered from memory, a signed request is executed
// once, and its repeat gets the answer the terminal would have had.
//
// Memory is bounded: an answer is kept until its request's timestamp is
// Window old (VerifyRequest refuses the request from then on), at most
// perTerminal of one terminal and max in all, the oldest giving way
// first, and an answer longer than MaxAnswer is not kept. Each answer
// costs its body and about 450 bytes besides (the terminal id, the
// signature, the bookkeeping): at most about max × (MaxAnswer + 450)
// bytes, 23 MiB at the defaults, about 10 MiB when the answers are 200
// bytes as the platforms' are. A repeat of an answer that gave way is
// executed again: idempotency is the protection then, as without
// Answers.
//
// Answers is safe for concurrent use; a repeat that arrives while the
// first is being executed waits for its answer.
type Answers struct {
	window      time.Duration
	max, perTer int

	mu  sync.Mutex
	m   map[answerKey]*answerEntry
	all list.List             // every entry, oldest first
	own map[string]*list.List // each terminal's entries, oldest first
}

type answerKey struct{ terminal, sig string }

type answerEntry struct {
	key      answerKey
	expires  time.Time
	ready    chan struct{} // closed once executed
	answered bool          // ans is the answer
	ans      Answer
	all, own *list.Element
}

// NewAnswers returns an Answers keeping answers for requests whose
// timestamps are within window (0: Window), at most max in all (0:
// DefaultAnswers) and perTerminal of one terminal (0:
// DefaultAnswersPerTerminal).
func NewAnswers(window time.Duration, max, perTerminal int) *Answers {
	if window <= 0 {
		window = Window
	}
	if max <= 0 {
		max = DefaultAnswers
	}
	if perTerminal <= 0 {
		perTerminal = DefaultAnswersPerTerminal
	}
	return &Answers{window: window, max: max, perTer: min(perTerminal, max),
		m: map[answerKey]*answerEntry{}, own: map[string]*list.List{}}
}

// Do answers a verified request of terminal with signature sig and
// timestamp ts, at now. The first time, it calls exec, which executes
// the request and returns its answer and whether it may be given again
// (false: a repeat is executed again, e.g. when no answer was sent), and
// returns that answer. For a repeat it returns the first one's answer
// (a copy) and repeat true; exec is not called. A repeat that comes
// while the first is being executed waits for it, or for ctx (its
// error).
func (a *Answers) Do(ctx context.Context, terminal, sig string, ts, now time.Time, exec func() (Answer, bool)) (ans Answer, repeat bool, err error) {
	k := answerKey{terminal, sig}
	for {
		a.mu.Lock()
		a.expire(now)
		e := a.m[k]
		if e == nil {
			break // a.mu held
		}
		if e.answered {
			ans := Answer{Status: e.ans.Status, Body: bytes.Clone(e.ans.Body)}
			a.mu.Unlock()
			return ans, true, nil
		}
		ready := e.ready
		a.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return Answer{}, false, ctx.Err()
		}
	}
	e := &answerEntry{key: k, expires: ts.Add(a.window), ready: make(chan struct{})}
	a.add(e)
	a.mu.Unlock()
	keep := false
	defer func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if keep && len(ans.Body) <= MaxAnswer && a.m[k] == e {
			e.ans, e.answered = Answer{Status: ans.Status, Body: bytes.Clone(ans.Body)}, true
		} else {
			a.remove(e)
		}
		close(e.ready)
		e.ready = nil // the waiters have it
	}()
	ans, keep = exec()
	return ans, false, nil
}

// Len is how many answers are kept, those being executed included.
func (a *Answers) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

// LenOf is how many of terminal's answers are kept.
func (a *Answers) LenOf(terminal string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.own[terminal]; l != nil {
		return l.Len()
	}
	return 0
}

// add puts e in, making room; a.mu is held.
func (a *Answers) add(e *answerEntry) {
	l := a.own[e.key.terminal]
	if l == nil {
		l = list.New()
		a.own[e.key.terminal] = l
	}
	for l.Len() >= a.perTer {
		a.remove(l.Front().Value.(*answerEntry))
	}
	for a.all.Len() >= a.max {
		a.remove(a.all.Front().Value.(*answerEntry))
	}
	e.all, e.own = a.all.PushBack(e), l.PushBack(e)
	a.m[e.key] = e
}

// remove takes e out (when it is still in); a.mu is held.
func (a *Answers) remove(e *answerEntry) {
	if a.m[e.key] != e {
		return
	}
	delete(a.m, e.key)
	a.all.Remove(e.all)
	l := a.own[e.key.terminal]
	l.Remove(e.own)
	if l.Len() == 0 {
		delete(a.own, e.key.terminal)
	}
}

// expire drops the oldest entries whose requests are stale at now. The
// entries are in arrival order, their expiries nearly so (a timestamp
// may be up to the window either side of its arrival): one behind an
// entry not yet expired waits for it, at most twice the window, within
// the bounds. a.mu is held.
func (a *Answers) expire(now time.Time) {
	for f := a.all.Front(); f != nil; f = a.all.Front() {
		e := f.Value.(*answerEntry)
		if !e.expires.Before(now) {
			return
		}
		a.remove(e)
	}
}
