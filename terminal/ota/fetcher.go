package ota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"posd/conn/clock"
)

// fetcher is go-tuf's download hook (config.UpdaterConfig.Fetcher) for one
// Check or one Fetch: requests carry the Check's context and the terminal
// id, every body is read through a bound, and a target (partial set)
// downloads into a partial file that a later Fetch resumes with a Range
// request. go-tuf verifies what it returns.
type fetcher struct {
	c       *Client
	ctx     context.Context
	partial string // target mode: the partial download file
	name    string // target mode: the target's name
	last    string // the file downloaded last (metadata name or target name)
	// resumed: target mode, the download continued a partial file.
	resumed bool
	// watch is the rate watch of the request under way (or the last).
	watch *rateWatch
	// roots: metadata mode, the versioned roots downloaded (N.root.json
	// by N), not yet verified (see Client.keepRoots).
	roots map[int64][]byte
}

// DownloadFile implements go-tuf's fetcher.Fetcher. The timeout argument is
// unused (go-tuf deprecated it): the context bounds the download.
func (f *fetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	if f.partial != "" {
		f.last = f.name
		return f.target(u, maxLength)
	}
	f.last = path.Base(u)
	limit := f.c.o.MaxMetadata
	if maxLength > 0 && maxLength < limit {
		limit = maxLength
	}
	resp, err := f.get(u, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, u)
	}
	if resp.ContentLength > limit {
		return nil, tooLarge(f.last, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, f.transport(err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(f.last, int64(len(data)), limit)
	}
	if v, ok := strings.CutSuffix(f.last, ".root.json"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			if f.roots == nil {
				f.roots = map[int64][]byte{}
			}
			f.roots[n] = data
		}
	}
	return data, nil
}

// tooLarge is the error of a download beyond its bound; it carries go-tuf's
// own type too.
func tooLarge(file string, n, limit int64) error {
	return fmt.Errorf("%w: %w", ErrTooLarge, &metadata.ErrDownloadLengthMismatch{
		Msg: fmt.Sprintf("%s: more than %d bytes (at least %d)", file, limit, n)})
}

// statusError is the error of an HTTP status other than success. go-tuf
// finds its own type in it (a 404 ends the walk of the root chain).
func statusError(resp *http.Response, u string) error {
	he := &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: u}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrNotFound, he)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, he)
}

// get sends a GET of u, for the bytes from offset from on when from > 0.
// The request is watched for Opts.MinRate (see rateWatch) until its body
// is closed.
func (f *fetcher) get(u string, from int64) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(f.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if f.c.o.TerminalID != "" {
		req.Header.Set(TerminalHeader, f.c.o.TerminalID)
	}
	req.Header.Set("User-Agent", "posd-ota")
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	w := &rateWatch{log: f.c.log, name: f.last, cancel: cancel, stop: make(chan struct{}),
		rate: f.c.o.MinRate, window: f.c.o.MinRateWindow, clk: f.c.o.RateClock}
	w.rest.Store(-1)
	f.watch = w
	if w.rate >= 0 {
		// The first window is set before the request leaves.
		go w.run(w.clk.After(w.window))
	}
	resp, err := f.c.http.Do(req)
	if err != nil {
		w.end()
		return nil, f.transport(err)
	}
	if resp.ContentLength >= 0 {
		w.rest.Store(resp.ContentLength)
	}
	w.body = resp.Body
	resp.Body = w
	return resp, nil
}

// transport wraps an error of the connection: a timeout, a cancel, an
// answer below the minimum rate, or an unreachable (or vanished)
// repository.
func (f *fetcher) transport(err error) error {
	if cause := context.Cause(f.ctx); cause != nil {
		if errors.Is(cause, ErrTimeout) {
			return fmt.Errorf("%w after %v: %s", ErrTimeout, f.c.o.FetchTimeout, f.last)
		}
		return fmt.Errorf("ota: %s: %w", f.last, cause)
	}
	if f.watch != nil {
		if slow := f.watch.tooSlow(); slow != nil {
			return slow
		}
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, f.last, err)
}

// rateWatch is the body of one answer, counting what it brings, and the
// watch of its rate: each Opts.MinRateWindow (by Opts.RateClock) from the
// request on, the window must have brought MinRate·MinRateWindow bytes
// or the rest of the answer, whichever is less; else the request is
// cancelled and its reads fail with ErrTooSlow. The window starts with
// the request: an answer whose headers do not come counts as no bytes.
type rateWatch struct {
	log    *slog.Logger
	name   string
	rate   int64 // Opts.MinRate
	window time.Duration
	clk    clock.Clock
	cancel context.CancelCauseFunc
	body   io.ReadCloser
	got    atomic.Int64 // bytes of the current window
	rest   atomic.Int64 // bytes of the answer still to come (-1: unknown)
	stop   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	slow   error // why the request was given up (nil: it was not)
}

func (w *rateWatch) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	w.got.Add(int64(n))
	if r := w.rest.Load(); r >= 0 {
		w.rest.Store(max(0, r-int64(n)))
	}
	return n, err
}

// Close ends the watch and the request.
func (w *rateWatch) Close() error {
	w.end()
	return w.body.Close()
}

func (w *rateWatch) end() {
	w.once.Do(func() {
		close(w.stop)
		w.cancel(nil)
	})
}

func (w *rateWatch) tooSlow() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.slow
}

// run watches the windows, the first ending when first fires.
func (w *rateWatch) run(first <-chan time.Time) {
	floor := int64(float64(w.rate) * w.window.Seconds())
	for window := first; ; window = w.clk.After(w.window) {
		select {
		case <-w.stop:
			return
		case <-window:
		}
		select {
		case <-w.stop:
			return
		default:
		}
		got, need := w.got.Swap(0), floor
		if r := w.rest.Load(); r >= 0 {
			need = min(need, r+got)
		}
		if got >= need {
			continue
		}
		err := fmt.Errorf("%w: %s: %d bytes in %v, below %d bytes/s (%w)", ErrTooSlow, w.name, got, w.window, w.rate, ErrUnreachable)
		w.mu.Lock()
		w.slow = err
		w.mu.Unlock()
		w.log.Warn("ota: download below the minimum rate; giving it up", "file", w.name, "bytes", got, "window", w.window)
		w.cancel(err)
		return
	}
}

// target downloads a target of exactly length bytes into the partial
// file, continuing what is there, and returns the whole file.
func (f *fetcher) target(u string, length int64) ([]byte, error) {
	if length < 0 || length > f.c.o.MaxTarget {
		return nil, tooLarge(f.name, length, f.c.o.MaxTarget)
	}
	if err := f.room(length); err != nil {
		return nil, err
	}
	file, err := os.OpenFile(f.partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ota: partial download: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("ota: partial download: %w", err)
	}
	have := st.Size()
	restart := func() error {
		have, f.resumed = 0, false
		if err := file.Truncate(0); err != nil {
			return fmt.Errorf("ota: partial download: %w", err)
		}
		return nil
	}
	if have > length {
		if err := restart(); err != nil {
			return nil, err
		}
	}
	for attempt := 0; have < length || length == 0 && attempt == 0; attempt++ {
		if attempt == 2 {
			return nil, fmt.Errorf("%w: %s: no usable answer to a range request", ErrUnreachable, f.name)
		}
		if have > 0 {
			f.resumed = true
			f.c.log.Info("ota: resuming download", "target", f.name, "from", have, "of", length)
		}
		resp, err := f.get(u, have)
		if err != nil {
			return nil, err
		}
		again, err := f.body(resp, file, &have, length, restart)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if !again {
			break
		}
	}
	if err := file.Sync(); err != nil {
		return nil, fmt.Errorf("ota: partial download: %w", err)
	}
	data := make([]byte, length)
	if _, err := file.ReadAt(data, 0); err != nil && !(err == io.EOF && length == 0) {
		return nil, fmt.Errorf("ota: partial download: %w", err)
	}
	return data, nil
}

// room checks the file system of the partial file has room for the rest
// of a target of length bytes, and MinFree beside it unless the target is
// no larger than a parameter bundle (MaxBundle).
func (f *fetcher) room(length int64) error {
	var have int64
	if st, err := os.Stat(f.partial); err == nil && st.Size() <= length {
		have = st.Size()
	}
	need := length - have
	if need <= 0 {
		return nil
	}
	free, err := f.c.o.FreeSpace(filepath.Dir(f.partial))
	if err != nil {
		f.c.log.Debug("ota: free space unknown; downloading anyway", "err", err)
		return nil
	}
	// A target of a parameter bundle's size needs only its own room: it
	// may carry what keeps the terminal safe (a hotlist, a risk rule).
	keep := f.c.o.MinFree
	if length <= MaxBundle {
		keep = 0
	}
	if free-need < keep {
		return fmt.Errorf("%w: %s needs %d bytes more, %d are free and %d stay free", ErrNoSpace, f.name, need, free, keep)
	}
	return nil
}

// body appends one response to the partial file. again asks for another
// request (from the start, the server having answered the range request
// with something else).
func (f *fetcher) body(resp *http.Response, file *os.File, have *int64, length int64, restart func() error) (again bool, err error) {
	switch resp.StatusCode {
	case http.StatusOK:
		if *have > 0 {
			// The whole file again: the server ignored the range.
			if err := restart(); err != nil {
				return false, err
			}
		}
	case http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != *have || total >= 0 && total != length {
			f.c.log.Warn("ota: unusable range answer; starting over", "target", f.name,
				"content-range", resp.Header.Get("Content-Range"))
			return true, restart()
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return true, restart()
	default:
		return false, statusError(resp, resp.Request.URL.String())
	}
	rest := length - *have
	if resp.ContentLength > rest {
		err := tooLarge(f.name, *have+resp.ContentLength, length)
		if rerr := restart(); rerr != nil {
			return false, errors.Join(err, rerr)
		}
		return false, err
	}
	if _, err := file.Seek(*have, io.SeekStart); err != nil {
		return false, fmt.Errorf("ota: partial download: %w", err)
	}
	n, cerr := io.Copy(file, io.LimitReader(resp.Body, rest+1))
	*have += n
	if *have > length {
		err := tooLarge(f.name, *have, length)
		if rerr := restart(); rerr != nil {
			return false, errors.Join(err, rerr)
		}
		return false, err
	}
	if cerr != nil {
		if errors.Is(cerr, syscall.ENOSPC) || errors.Is(cerr, syscall.EDQUOT) {
			// The disk filled up (the terminal's database may share it):
			// give back what the download took.
			err := fmt.Errorf("%w: %s: the disk filled up at %d of %d bytes: %w", ErrNoSpace, f.name, *have, length, cerr)
			rerr := restart()
			os.Remove(f.partial)
			return false, errors.Join(err, rerr)
		}
		var pe *os.PathError
		if errors.As(cerr, &pe) {
			return false, fmt.Errorf("ota: partial download: %w", cerr)
		}
		// Keep what arrived, durably: the next Fetch resumes after it.
		file.Sync()
		return false, f.transport(cerr)
	}
	if *have < length {
		if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
			// The whole file, as long as the server said and cleanly
			// ended, and shorter than signed: not the target (a file cut
			// short on the TMS). A cut connection ends short of the
			// Content-Length instead (cerr above).
			return false, fmt.Errorf("%s: %w", f.name, &metadata.ErrLengthOrHashMismatch{
				Msg: fmt.Sprintf("the repository's whole file is %d bytes, signed length %d", *have, length)})
		}
		file.Sync()
		return false, fmt.Errorf("%w: %s: the answer ended at %d of %d bytes", ErrUnreachable, f.name, *have, length)
	}
	return false, nil
}

// contentRange reads "bytes start-end/total" (total -1 for "*").
func contentRange(s string) (start, total int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t <= end {
			return 0, 0, false
		}
		total = t
	}
	return start, total, true
}
