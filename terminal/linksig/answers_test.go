package linksig_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/terminal/linksig"
)

var t0 = time.Unix(1767225600, 0)

// counting is an exec that counts its calls and answers its call's
// number.
type counting struct{ n atomic.Int32 }

func (c *counting) exec() (linksig.Answer, bool) {
	n := c.n.Add(1)
	return linksig.Answer{Status: 200, Body: fmt.Appendf(nil, `{"n":%d}`, n)}, true
}

func TestAnswersRepeat(t *testing.T) {
	a := linksig.NewAnswers(0, 0, 0)
	var c counting
	ctx := context.Background()
	first, repeat, err := a.Do(ctx, "T1", "s1", t0, t0, c.exec)
	if err != nil || repeat || string(first.Body) != `{"n":1}` {
		t.Fatalf("first: %+v %v %v", first, repeat, err)
	}
	// The same request again, up to the end of its window: the first
	// answer, not executed again.
	for _, at := range []time.Duration{0, time.Second, linksig.Window} {
		got, repeat, err := a.Do(ctx, "T1", "s1", t0, t0.Add(at), c.exec)
		if err != nil || !repeat || got.Status != 200 || string(got.Body) != `{"n":1}` {
			t.Fatalf("repeat %v later: %+v %v %v", at, got, repeat, err)
		}
	}
	// The copy handed out is the caller's.
	got, _, _ := a.Do(ctx, "T1", "s1", t0, t0, c.exec)
	got.Body[2] = 'X'
	if got, _, _ := a.Do(ctx, "T1", "s1", t0, t0, c.exec); string(got.Body) != `{"n":1}` {
		t.Fatalf("the kept answer changed: %s", got.Body)
	}
	// Another signature, or the same from another terminal, is another
	// request.
	if got, repeat, _ := a.Do(ctx, "T1", "s2", t0, t0, c.exec); repeat || string(got.Body) != `{"n":2}` {
		t.Fatalf("another signature: %s %v", got.Body, repeat)
	}
	if got, repeat, _ := a.Do(ctx, "T2", "s1", t0, t0, c.exec); repeat || string(got.Body) != `{"n":3}` {
		t.Fatalf("another terminal: %s %v", got.Body, repeat)
	}
	if c.n.Load() != 3 || a.Len() != 3 {
		t.Fatalf("%d executed, %d kept", c.n.Load(), a.Len())
	}
	// Once the requests are stale (VerifyRequest refuses them), their
	// answers are gone.
	if _, repeat, _ := a.Do(ctx, "T3", "s9", t0.Add(time.Hour), t0.Add(linksig.Window+time.Second), c.exec); repeat || a.Len() != 1 {
		t.Fatalf("after the window: %d kept", a.Len())
	}
}

// A request's answer is kept until its timestamp is a window old, not
// its arrival: a request dated ahead is kept longer.
func TestAnswersExpireByTimestamp(t *testing.T) {
	a := linksig.NewAnswers(time.Minute, 0, 0)
	var c counting
	ctx := context.Background()
	a.Do(ctx, "T1", "ahead", t0.Add(time.Minute), t0, c.exec)
	if _, repeat, _ := a.Do(ctx, "T1", "ahead", t0.Add(time.Minute), t0.Add(2*time.Minute), c.exec); !repeat {
		t.Fatal("forgotten before its timestamp was a window old")
	}
	a.Do(ctx, "T1", "other", t0.Add(2*time.Minute), t0.Add(2*time.Minute+time.Second), c.exec)
	if a.LenOf("T1") != 1 {
		t.Fatalf("%d kept", a.LenOf("T1"))
	}
}

// An answer exec says not to give again, or one too long, is not kept.
func TestAnswersNotKept(t *testing.T) {
	a := linksig.NewAnswers(0, 0, 0)
	ctx := context.Background()
	n := 0
	for range 2 {
		a.Do(ctx, "T1", "hangup", t0, t0, func() (linksig.Answer, bool) { n++; return linksig.Answer{}, false })
		a.Do(ctx, "T1", "long", t0, t0, func() (linksig.Answer, bool) {
			n++
			return linksig.Answer{Status: 200, Body: make([]byte, linksig.MaxAnswer+1)}, true
		})
	}
	if n != 4 || a.Len() != 0 {
		t.Fatalf("%d executed, %d kept", n, a.Len())
	}
}

// However many requests, at most perTerminal of one terminal's answers
// and max in all are kept, the oldest giving way; one terminal does not
// push out another's.
func TestAnswersBounded(t *testing.T) {
	const max, per = 100, 10
	a := linksig.NewAnswers(0, max, per)
	var c counting
	ctx := context.Background()
	a.Do(ctx, "QUIET", "q", t0, t0, c.exec)
	for i := range 1000 {
		a.Do(ctx, "BUSY", fmt.Sprint(i), t0, t0, c.exec)
	}
	if a.LenOf("BUSY") != per || a.LenOf("QUIET") != 1 {
		t.Fatalf("kept %d of the busy terminal, %d of the quiet one", a.LenOf("BUSY"), a.LenOf("QUIET"))
	}
	if _, repeat, _ := a.Do(ctx, "BUSY", "999", t0, t0, c.exec); !repeat {
		t.Fatal("the newest answer gave way")
	}
	if _, repeat, _ := a.Do(ctx, "QUIET", "q", t0, t0, c.exec); !repeat {
		t.Fatal("the quiet terminal's answer gave way to the busy one's")
	}
	// The one that gave way is executed again when repeated.
	before := c.n.Load()
	if _, repeat, _ := a.Do(ctx, "BUSY", "0", t0, t0, c.exec); repeat || c.n.Load() != before+1 {
		t.Fatal("an answer that gave way was given")
	}
	for i := range 1000 {
		a.Do(ctx, fmt.Sprintf("T%d", i), "s", t0, t0, c.exec)
	}
	if a.Len() != max {
		t.Fatalf("%d kept, at most %d", a.Len(), max)
	}
}

// Repeats that come while the first is executed wait for its answer:
// the request is executed once.
func TestAnswersConcurrentRepeats(t *testing.T) {
	a := linksig.NewAnswers(0, 0, 0)
	var c counting
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		a.Do(context.Background(), "T1", "s", t0, t0, func() (linksig.Answer, bool) {
			close(started)
			<-release
			return c.exec()
		})
	})
	<-started
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			ans, repeat, err := a.Do(context.Background(), "T1", "s", t0, t0, c.exec)
			if err != nil || !repeat {
				t.Errorf("repeat %d: %v %v", i, repeat, err)
			}
			got[i] = string(ans.Body)
		})
	}
	// One gives up waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := a.Do(ctx, "T1", "s", t0, t0, c.exec); !errors.Is(err, context.Canceled) {
		t.Fatalf("a repeat whose caller went away: %v", err)
	}
	close(release)
	wg.Wait()
	for i, b := range got {
		if b != `{"n":1}` {
			t.Fatalf("repeat %d answered %s", i, b)
		}
	}
	if c.n.Load() != 1 {
		t.Fatalf("executed %d times", c.n.Load())
	}
}

// When the first execution's answer is not kept, a repeat waiting for
// it is executed itself.
func TestAnswersWaiterExecutesWhenNotKept(t *testing.T) {
	a := linksig.NewAnswers(0, 0, 0)
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		a.Do(context.Background(), "T1", "s", t0, t0, func() (linksig.Answer, bool) {
			close(started)
			<-release
			return linksig.Answer{}, false
		})
	})
	<-started
	done := make(chan linksig.Answer)
	go func() {
		ans, _, _ := a.Do(context.Background(), "T1", "s", t0, t0, func() (linksig.Answer, bool) {
			return linksig.Answer{Status: 200, Body: []byte("second")}, true
		})
		done <- ans
	}()
	close(release)
	if ans := <-done; string(ans.Body) != "second" {
		t.Fatalf("the waiting repeat: %+v", ans)
	}
	wg.Wait()
}
