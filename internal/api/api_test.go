package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"posd/board"
	"posd/crypto/keystore"
	"posd/internal/config"
	"posd/internal/daemon"
	"posd/terminal/dukptkeys"
	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

// testStopping gives a test the API's shutdown signal.
var testStopping = map[testing.TB]chan struct{}{}

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// newTestAPI is the API over a daemon with a real store and engine; the
// host is a closed port and there is no card reader.
func newTestAPI(t testing.TB) (*api, http.Handler) {
	t.Helper()
	return newTestAPIDialect(t, "")
}

// newTestAPIDialect is newTestAPI with a host of that dialect.
func newTestAPIDialect(t testing.TB, dialect string) (*api, http.Handler) {
	t.Helper()
	return newTestAPIStore(t, dialect, nil)
}

// newTestAPIStore is newTestAPIDialect with the store's options.
func newTestAPIStore(t testing.TB, dialect string, so *store.Opts) (*api, http.Handler) {
	t.Helper()
	return newTestAPIKeys(t, dialect, so, true)
}

// newTestAPIKeys is newTestAPIStore with the DUKPT key loaded or not.
func newTestAPIKeys(t testing.TB, dialect string, so *store.Opts, loadKey bool) (*api, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "posd.db"), so)
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := keystore.NewStaticKEK(make([]byte, 32))
	ks, err := keystore.Open(db.Bolt(), kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := dukptkeys.New(ks, wiresec.ModeAES, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	cfg, err := config.Parse([]byte(`{"terminal":{"max_amount":"50000.00"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if loadKey {
		bdk, iksn := cfg.SimTestKey(wiresec.ModeAES)
		if err := keys.LoadFromBDK(bdk, iksn); err != nil {
			t.Fatal(err)
		}
	}
	client, err := host.New(&host.Opts{Addr: "127.0.0.1:1", Dialect: dialect, ConnectTimeout: time.Second, ResponseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e, err := txn.New(txn.Opts{Store: db, Host: client, Keys: keys, Reader: idleReader{}, CardTimeout: time.Minute, HostTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon.Daemon{Config: cfg, Settings: cfg.Settings(), DB: db, Keys: keys, Board: board.New("test", nil), Host: client, Engine: e,
		Log: slog.New(slog.DiscardHandler)}
	stopping := make(chan struct{})
	testStopping[t] = stopping
	a := &api{d: d, token: testToken, stopping: stopping}
	t.Cleanup(func() { e.Halt(); client.Close(); db.Close() })
	return a, a.routes()
}

// idleReader is a card reader nobody presents a card to.
type idleReader struct{}

func (idleReader) Flush() {}
func (idleReader) ReadCard(ctx context.Context) (*txn.Card, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type call struct {
	method, path, body string
	hdr                map[string]string
}

func do(h http.Handler, c call) (int, http.Header, string) {
	req := httptest.NewRequest(c.method, "http://127.0.0.1:7070"+c.path, strings.NewReader(c.body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if c.method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Result().Header, string(b)
}

func errorOf(t *testing.T, body string) string {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error
}

func TestAPIErrorsAreJSONAndSayWhy(t *testing.T) {
	_, h := newTestAPI(t)
	for _, c := range []struct {
		call
		code int
		want string
	}{
		{call{"GET", "/nope", "", nil}, 404, "no such endpoint"},
		{call{"GET", "/v1/nope", "", nil}, 404, "no such endpoint"},
		{call{"DELETE", "/v1/sales", "", nil}, 405, "not allowed"},
		{call{"GET", "/v1/sales", "", nil}, 405, "POST"},
		{call{"PUT", "/v1/txns/1", "", nil}, 405, "GET"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"} {"amount":"2.00"}`, nil}, 400, "trailing data"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"}junk`, nil}, 400, "trailing data"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","tip":"1"}`, nil}, 400, "unknown field"},
		{call{"POST", "/v1/sales", `["1.00"]`, nil}, 400, "bad request body"},
		{call{"POST", "/v1/sales", `{"amount":"0"}`, nil}, 400, "greater than zero"},
		{call{"POST", "/v1/sales", `{"amount":"0.00"}`, nil}, 400, "greater than zero"},
		{call{"POST", "/v1/sales", `{"amount":"50000.01"}`, nil}, 400, "over the terminal's limit of 50000.00 CNY"},
		{call{"POST", "/v1/sales", `{"amount":"12.345"}`, nil}, 400, "amount"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","currency":"XYZ"}`, nil}, 400, "currency"},
		{call{"POST", "/v1/txns/999/cancel", `{}`, nil}, 404, "not found"},
		{call{"POST", "/v1/sync", `{"now":true}`, nil}, 400, "unknown field"},
		{call{"GET", "/v1/sync", ``, nil}, 405, ""},
		{call{"POST", "/v1/txns/abc/cancel", `{}`, nil}, 404, "not found"},
		{call{"GET", "/v1/txns?state=bogus", "", nil}, 400, "unknown state"},
		{call{"GET", "/v1/txns?limit=0", "", nil}, 400, "limit"},
		{call{"GET", "/v1/txns?limit=100000", "", nil}, 400, "limit"},
		{call{"GET", "/v1/txns/1?wait=forever", "", nil}, 400, "wait"},
		{call{"GET", "/v1/txns/42", "", nil}, 404, "not found"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"}`, map[string]string{"Content-Type": "text/plain"}}, 415, "application/json"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"}`, map[string]string{"Authorization": ""}}, 401, "token"},
		{call{"GET", "/v1/status", "", map[string]string{"Authorization": "Bearer nope"}}, 401, "token"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"}`, map[string]string{"Origin": "http://evil.example"}}, 403, "cross-origin"},
		{call{"POST", "/v1/sales", `{"amount":"1.00"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-site"},
		{call{"OPTIONS", "/v1/sales", "", nil}, 405, "OPTIONS"},
		{call{"POST", "/v1/txns", `{"type":"cashback","amount":"1.00"}`, nil}, 400, "unknown type"},
		{call{"POST", "/v1/txns", `{"type":"refund"}`, nil}, 400, "amount"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"-1.00"}`, nil}, 400, "amount"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"50000.01"}`, nil}, 400, "limit"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","orig_id":"77"}`, nil}, 404, "not found"},
		{call{"POST", "/v1/txns", `{"type":"void"}`, nil}, 400, "id of the original"},
		{call{"POST", "/v1/txns", `{"type":"void","orig_id":"77"}`, nil}, 404, "not found"},
		{call{"POST", "/v1/txns", `{"type":"void","orig_id":"abc"}`, nil}, 404, "not found"},
		{call{"POST", "/v1/txns", `{"type":"void","orig_id":"` + strings.Repeat("9", 40) + `"}`, nil}, 400, "too long"},
		{call{"POST", "/v1/txns", `{"type":"completion","amount":"1.00"}`, nil}, 400, "id of the original"},
		{call{"POST", "/v1/txns", `{"type":"balance","amount":"1.00"}`, nil}, 400, "no amount"},
		{call{"POST", "/v1/txns", `{"type":"purchase","amount":"1.00","orig_id":"1"}`, nil}, 400, "no original"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","currency":"XYZ"}`, nil}, 400, "currency"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","when":"now"}`, nil}, 400, "unknown field"},
		{call{"POST", "/v1/txns", `{"type":1}`, nil}, 400, "bad request body"},
		{call{"POST", "/v1/batch/close", `{"force":true}`, nil}, 400, "unknown field"},
		{call{"GET", "/v1/batch/close", ``, nil}, 405, ""},
		{call{"POST", "/v1/batch", `{}`, nil}, 405, ""},
		{call{"GET", "/v1/audit?limit=0", ``, nil}, 400, "limit"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","method":"cash"}`, nil}, 400, "unknown method"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","method":"qr"}`, nil}, 400, "payment codes"},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","method":"qr"}`, nil}, 400, "payment codes"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","method":"mpm"}`, nil}, 400, "merchant codes"},
		{call{"POST", "/v1/sales", `{"amount":"1.00","platform":"wechat"}`, nil}, 400, "method mpm only"},
		{call{"POST", "/v1/sim/qr", `{"code":"1234","image":"AAAA"}`, nil}, 400, "one of them"},
		{call{"POST", "/v1/sim/qr", `{"code":"1234","to":"printer"}`, nil}, 400, "camera or scanner"},
		{call{"GET", "/display/qr.png", ``, nil}, 404, ""},
		{call{"GET", "/v1/audit?limit=x", ``, nil}, 400, "limit"},
		{call{"GET", "/v1/audit", ``, nil}, 404, "no service console"},
	} {
		code, hdr, body := do(h, c.call)
		if code != c.code {
			t.Errorf("%s %s %q: %d %s, want %d", c.method, c.path, c.body, code, body, c.code)
			continue
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: content type %q", c.method, c.path, ct)
		}
		if msg := errorOf(t, body); !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %q: error %q does not say %q", c.method, c.path, c.body, msg, c.want)
		}
		for k := range hdr {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("CORS header %s", k)
			}
		}
	}
}

func TestAPIHostMustBeLoopback(t *testing.T) {
	_, h := newTestAPI(t)
	for host, ok := range map[string]bool{
		"127.0.0.1:7070": true, "localhost:7070": true, "LOCALHOST": true, "[::1]:7070": true, "127.1.2.3": true, "localhost.:7070": true,
		"evil.example": false, "evil.example:7070": false, "192.168.1.5:7070": false, "localhost.evil.example": false, "": false,
	} {
		for _, path := range []string{"/v1/status", "/display.json", "/"} {
			req := httptest.NewRequest("GET", "http://127.0.0.1:7070"+path, nil)
			req.Host = host
			req.Header.Set("Authorization", "Bearer "+testToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := w.Code < 400; got != ok {
				t.Errorf("Host %q %s: %d", host, path, w.Code)
			}
		}
	}
}

func TestAPISaleAndCancel(t *testing.T) {
	_, h := newTestAPI(t)
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"12.34"}`, nil})
	if code != 201 {
		t.Fatalf("sale: %d %s", code, body)
	}
	var v txnView
	json.Unmarshal([]byte(body), &v)
	if code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"1.00"}`, nil}); code != 409 {
		t.Fatalf("second sale: %d %s", code, body)
	}
	if code, _, body := do(h, call{"POST", "/v1/txns/" + v.ID + "/cancel", `{}`, nil}); code != 202 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	code, _, body = do(h, call{"GET", "/v1/txns/" + v.ID + "?wait=10s", "", nil})
	json.Unmarshal([]byte(body), &v)
	if code != 200 || v.State != "failed" || !strings.Contains(v.Error, "cancelled") {
		t.Fatalf("after cancel: %d %s", code, body)
	}
	if code, _, body := do(h, call{"POST", "/v1/txns/" + v.ID + "/cancel", `{}`, nil}); code != 409 {
		t.Fatalf("cancel of a finished sale: %d %s", code, body)
	}
}

func TestAPIWaitAnswersAtShutdown(t *testing.T) {
	a, h := newTestAPI(t)
	x := store.Txn{Kind: "purchase", Amount: 100, Currency: "156"}
	a.d.DB.Create(&x) // created, not the engine's: nothing will finish it
	done := make(chan int, 1)
	go func() {
		code, _, _ := do(h, call{"GET", "/v1/txns/" + x.ID + "?wait=5m", "", nil})
		done <- code
	}()
	time.Sleep(50 * time.Millisecond)
	close(testStopping[t])
	select {
	case code := <-done:
		if code != 503 {
			t.Fatalf("long poll at shutdown: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll still waiting after shutdown began")
	}
}

// FuzzDecodeBody: the API's request decoding never panics, and accepts
// exactly one JSON object with known fields.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"amount":"12.34","currency":"CNY"}`, `{"card":"visa-classic"}`, `{}`, `{"amount":"1"} {}`, `[`, `null`, `{"amount":1e400}`, "{\"amount\":\"\\u0000\"}",
		`{"amount":"1","amount":"2"}`, `{"amount":"1","AMOUNT":"2"}`, `{"amount":"1","\u0061mount":"2"}`, `{"currency":"CNY","currenc\u0079":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s saleRequest
		err := decodeBody(strings.NewReader(string(b)), &s)
		if err == nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) != nil || m == nil {
				t.Fatalf("accepted a body that is not one JSON object: %q", b)
			}
			if repeatedField(b) {
				t.Fatalf("accepted a field given twice: %q", b)
			}
			for k := range m {
				if k != "amount" && k != "currency" && !strings.EqualFold(k, "amount") && !strings.EqualFold(k, "currency") {
					t.Fatalf("accepted unknown field %q", k)
				}
			}
		}
		var w presentRequest
		decodeBody(strings.NewReader(string(b)), &w)
		var k keysRequest
		decodeBody(strings.NewReader(string(b)), &k)
	})
}

// repeatedField reports whether an object of the JSON text b names a
// field twice (names compared as encoding/json matches them), by the
// decoder's tokens.
func repeatedField(b []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	type frame struct {
		object, wantKey bool
		seen            []string
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if name, ok := tok.(string); ok {
				for _, s := range stack[n-1].seen {
					if strings.EqualFold(s, name) {
						return true
					}
				}
				stack[n-1].seen = append(stack[n-1].seen, name)
				stack[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
}

// FuzzAPIRequests: any body, content type and path to the API's POST
// endpoints gets a JSON answer and never a panic.
func FuzzAPIRequests(f *testing.F) {
	f.Add("/v1/sales", "application/json", []byte(`{"amount":"1.00"}`))
	f.Add("/v1/sim/swipe", "application/json", []byte(`{"card":"x"}`))
	f.Add("/v1/sim/keys", "application/json", []byte(`{"keys":"1234E"}`))
	f.Add("/v1/txns/1/cancel", "text/plain", []byte(`{}`))
	f.Add("/v1/txns", "application/json", []byte(`{"type":"void","orig_id":"1"}`))
	f.Add("/v1/txns", "application/json", []byte(`{"type":"refund","amount":"1.00","orig_id":"1"}`))
	f.Add("/v1/batch/close", "application/json", []byte(`{}`))
	a, h := newTestAPI(f)
	f.Fuzz(func(t *testing.T, path, ct string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?%") {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // not a request line a client could send
		}
		req := httptest.NewRequest("POST", "http://127.0.0.1:7070"+path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 201 {
			// A sale started: cancel it so the next input can start one.
			var v txnView
			json.Unmarshal(w.Body.Bytes(), &v)
			a.d.Engine.Cancel(v.ID)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.d.Engine.Wait(ctx, v.ID)
			cancel()
			return
		}
		if w.Code/100 == 3 {
			return // the mux's redirect of an unclean path (/./x, //x)
		}
		if ct := w.Result().Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %q: %d, content type %q", path, body, w.Code, ct)
		}
	})
}

// posctl sync and the status report what waits to be forwarded.
func TestSyncAndOfflineStatus(t *testing.T) {
	_, h := newTestAPI(t)
	for _, c := range []struct {
		call
		want string
	}{
		{call{"POST", "/v1/sync", `{}`, nil}, `{"count":0,"amount":0,"amount_decimal":"0.00","currency":"CNY"}`},
		{call{"GET", "/v1/status", "", nil}, `"offline":{"count":0,"amount":0,"amount_decimal":"0.00","currency":"CNY"}`},
	} {
		code, _, body := do(h, c.call)
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s, want %s", c.method, c.path, code, body, c.want)
		}
	}
}

// TestAPIWaitGetsTheShutdownOutcome: at SIGTERM a sale waiting for a card
// ends failed (shutdown), and the cashier waiting on it is told that
// outcome, not the state it had when the shutdown began.
func TestAPIWaitGetsTheShutdownOutcome(t *testing.T) {
	a, _ := newTestAPI(t)
	a.d.Config.API.Listen = "127.0.0.1:0"
	a.d.Config.DataDir = t.TempDir()
	srv, err := Start(a.d)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	raw, err := os.ReadFile(filepath.Join(a.d.Config.DataDir, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.Unmarshal(raw, &tok)
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	tx, err := a.d.Engine.Start(txn.Request{Amount: 1234, Currency: "156"})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		code, body := get("/v1/txns/" + tx.ID + "?wait=1m")
		done <- answer{code, body}
	}()
	time.Sleep(200 * time.Millisecond) // the client is inside its long poll
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx, a.d.StopSales); err != nil {
		t.Fatal(err)
	}
	var got answer
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("long poll still waiting after the shutdown")
	}
	var v txnView
	json.Unmarshal([]byte(got.body), &v)
	if got.code != 200 || v.State != "failed" || v.Failure != "shutdown" {
		t.Fatalf("the waiting cashier was told %d %s; the sale is failed (shutdown)", got.code, got.body)
	}
}

// TestAPIBatchFull: with the cup host's 999 debits in the open batch, a
// sale is refused with 409 and the cashier's words, and GET /v1/batch
// says the batch is full; a pre-authorization (no money in the totals)
// still starts.
func TestAPIBatchFull(t *testing.T) {
	a, h := newTestAPIDialect(t, "cup")
	err := a.d.DB.Do(func(tx *store.Tx) error {
		first, err := tx.ReserveIDs(999)
		if err != nil {
			return err
		}
		for i := range uint64(999) {
			r := store.Txn{ID: strconv.FormatUint(first+i, 10), Kind: "purchase", State: store.StateAuthSent, Amount: 100,
				Currency: "156", Batch: tx.OpenBatch()}
			if err := tx.Insert(&r); err != nil {
				return err
			}
			if _, err := tx.Update(r.ID, func(r *store.Txn) error { r.State = store.StateApproved; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"1.00"}`, nil})
	if code != 409 || errorOf(t, body) != "Batch full: settle the batch / 批次已满，请先结算 (batch 1 holds 999 debits in CNY, the most one settlement carries)" {
		t.Fatalf("sale in a full batch: %d %s", code, body)
	}
	code, _, body = do(h, call{"GET", "/v1/batch", "", nil})
	var b struct {
		Load []batchLoadView `json:"load"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil || code != 200 || len(b.Load) != 1 ||
		b.Load[0] != (batchLoadView{Currency: "CNY", Debits: 999, Limit: 999, Hint: "batch_full", Message: "Batch full: settle the batch / 批次已满，请先结算"}) {
		t.Fatalf("batch: %d %s", code, body)
	}
	code, _, body = do(h, call{"POST", "/v1/txns", `{"type":"preauth","amount":"1.00"}`, nil})
	if code != 201 {
		t.Fatalf("pre-authorization in a full batch: %d %s", code, body)
	}
}

// A full data partition: no sale starts, the cashier's answer says to
// call service and the status shows why.
func TestAPIStorageFull(t *testing.T) {
	var avail atomic.Uint64
	avail.Store(64 << 20)
	a, h := newTestAPIStore(t, "", &store.Opts{Reserve: 2 << 20,
		Statfs: func(string) (uint64, uint64, error) { return avail.Load(), 256 << 20, nil }})
	if st := a.d.Status().Storage; st.Free != 64<<20 || st.Total != 256<<20 || st.Reserve != 2<<20 || st.File <= 0 || st.Problem != "" {
		t.Fatalf("storage %+v", st)
	}
	avail.Store(1 << 20)
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"1.00"}`, nil})
	if msg := errorOf(t, body); code != 503 || !strings.HasPrefix(msg, "Terminal storage full: call service / 终端存储已满，请联系维修 (") ||
		!strings.Contains(msg, "only 1024 KiB free") {
		t.Fatalf("sale on a full partition: %d %s", code, body)
	}
	if st := a.d.Status().Storage; !strings.Contains(st.Problem, "data partition full") {
		t.Fatalf("storage %+v", st)
	}
}

// A terminal without a DUKPT key: no card sale starts (the customer is
// not asked for a card that could not be sent), the cashier's answer
// says the terminal needs service.
func TestAPINoKeysRefusesACardSale(t *testing.T) {
	a, h := newTestAPIKeys(t, "", nil, false)
	if a.d.Status().KeyError == "" {
		t.Fatal("status shows no key error without a key")
	}
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"1.00"}`, nil})
	if msg := errorOf(t, body); code != 503 || !strings.HasPrefix(msg, "Terminal needs service / 终端需要维护 (") {
		t.Fatalf("card sale without a key: %d %s", code, body)
	}
	if st := a.d.Status(); st.ActiveSale != "" {
		t.Fatalf("a sale is active: %q", st.ActiveSale)
	}
}

// An id the engine may have handed out (in its reserved block) with no
// record answers 404 saying that nothing was charged if it was; an id
// beyond says to check it.
func TestNotFoundSaysWhetherAnythingWasCharged(t *testing.T) {
	_, h := newTestAPI(t)
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"1.00"}`, nil})
	if code != http.StatusCreated {
		t.Fatalf("sale: %d %s", code, body)
	}
	var sale struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &sale); err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(sale.ID)
	next := strconv.Itoa(n + 1)
	for _, c := range []struct{ method, path, body, want, not string }{
		{"GET", "/v1/txns/" + next, "", "nothing was charged", "not-a-text"},
		{"POST", "/v1/txns/" + next + "/cancel", "{}", "nothing was charged", "not-a-text"},
		{"GET", "/v1/txns/99999999", "", "check the id", "charged"},
	} {
		code, _, body := do(h, call{c.method, c.path, c.body, nil})
		if msg := errorOf(t, body); code != http.StatusNotFound || !strings.Contains(msg, c.want) || strings.Contains(msg, c.not) {
			t.Errorf("%s %s: %d %q", c.method, c.path, code, msg)
		}
	}
}
