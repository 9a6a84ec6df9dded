package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"
)

// hostScript accepts connections and runs serve on each with the host's
// framer: a host that sends requests of its own.
func hostScript(t *testing.T, d *Dialect, serve func(nc net.Conn, r *bufio.Reader, fr *Framer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tf, err := d.NewFramer(nil)
	if err != nil {
		t.Fatal(err)
	}
	fr := tf.Peer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serve(nc, bufio.NewReader(nc), fr)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// ask sends the host's request req on nc and reads the terminal's answer
// (within a guard: an unanswered request is an error, not a hang).
func ask(nc net.Conn, r *bufio.Reader, fr *Framer, d *Dialect, req Request) (Response, error) {
	m, err := d.EncodeRequest(req)
	if err != nil {
		return Response{}, err
	}
	return askRaw(nc, r, fr, d, m)
}

func askRaw(nc net.Conn, r *bufio.Reader, fr *Framer, d *Dialect, m *iso8583.Message) (Response, error) {
	if err := fr.WriteMessage(nc, m); err != nil {
		return Response{}, err
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetReadDeadline(time.Time{})
	a, err := fr.ReadMessage(r)
	if err != nil {
		return Response{}, fmt.Errorf("no answer from the terminal: %w", err)
	}
	resp, err := d.DecodeResponse(a)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		return resp, err
	}
	if resp.MTI == "" {
		resp.MTI, _ = a.GetMTI()
	}
	if resp.ResponseCode == "" {
		resp.ResponseCode, _ = a.GetString(DEResponseCode)
	}
	if resp.TerminalID == "" {
		resp.TerminalID, _ = a.GetString(DETerminalID)
	}
	if resp.STAN == 0 {
		stan, _ := a.GetString(DESTAN)
		v, _ := parseNum(stan, 6, "STAN")
		resp.STAN = uint32(v)
	}
	return resp, nil
}

// TestHostEchoAnswered: the host sends its echo test (ascii87 0800 DE70
// 301, cup 0820 60.3 301) while a purchase of the terminal waits for its
// answer. The terminal answers it (0810/0830, the same STAN, "00", its
// terminal id), and the purchase still gets its own answer.
func TestHostEchoAnswered(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			term, hst := sessions(t, 1)
			echoed := make(chan error, 1)
			addr := hostScript(t, d, func(nc net.Conn, r *bufio.Reader, fr *Framer) {
				m, err := fr.ReadMessage(r)
				if err != nil {
					return
				}
				req, err := d.DecodeRequest(m)
				if err != nil {
					echoed <- err
					return
				}
				// The purchase is in flight: the host checks the terminal
				// is alive before it answers.
				resp, err := ask(nc, r, fr, d, Request{Kind: KindEcho, STAN: 777, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001"})
				want := ResponseMTI(map[string]string{"ascii87": MTINetwork, "cup": CUPMTIManagement}[d.Name])
				switch {
				case err != nil:
				case resp.MTI != want || resp.STAN != 777 || resp.ResponseCode != "00" || resp.TerminalID != "T0000001" || resp.Kind != KindEcho:
					err = fmt.Errorf("answer to the host's echo: %+v, want %s, STAN 777, 00, T0000001", resp, want)
				}
				echoed <- err
				_ = fr.WriteFrame(nc, sealedResponse(t, d, hst, req.STAN, "T0000001", "00"))
				for {
					if _, err := fr.ReadMessage(r); err != nil {
						return
					}
				}
			})
			c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := c.Purchase(context.Background(), Purchase{STAN: 9, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}, term)
			if err != nil || !res.Approved() {
				t.Fatalf("purchase in flight during the host's echo: %+v, %v", res, err)
			}
			if err := <-echoed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHostRequestRefused: any other request the host sends (a sign-on, a
// purchase, an unknown network management code) is refused with "12"
// (invalid transaction) in its response MTI, its STAN and terminal id
// echoed; a request for another terminal id is refused too.
func TestHostRequestRefused(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			type askFn func(nc net.Conn, r *bufio.Reader, fr *Framer) (Response, error)
			netMsg := func(mti, code string) askFn {
				return func(nc net.Conn, r *bufio.Reader, fr *Framer) (Response, error) {
					m, err := d.EncodeRequest(Request{Kind: KindEcho, STAN: 778, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001"})
					if err != nil {
						return Response{}, err
					}
					m.MTI(mti)
					if d == ASCII87 {
						_ = m.Field(DENetworkCode, code)
					} else {
						_ = m.Field(DEReserved60, "00000000"+code)
					}
					return askRaw(nc, r, fr, d, m)
				}
			}
			netMTI := map[string]string{"ascii87": MTINetwork, "cup": CUPMTIManagement}[d.Name]
			cases := map[string]struct {
				ask  askFn
				mti  string
				stan uint32
			}{
				"sign-on": {func(nc net.Conn, r *bufio.Reader, fr *Framer) (Response, error) {
					return ask(nc, r, fr, d, Request{Kind: KindSignOn, STAN: 778, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001"})
				}, "0810", 778},
				"purchase": {func(nc net.Conn, r *bufio.Reader, fr *Framer) (Response, error) {
					_, hst := sessions(t, 2)
					p := purchaseRequest(779, hst.KSN())
					return ask(nc, r, fr, d, p)
				}, "0210", 779},
				"unknown network code": {netMsg(netMTI, "999"), ResponseMTI(netMTI), 778},
				"echo for another terminal": {func(nc net.Conn, r *bufio.Reader, fr *Framer) (Response, error) {
					return ask(nc, r, fr, d, Request{Kind: KindEcho, STAN: 778, Time: testTime, TerminalID: "T0000002", MerchantID: "M00000000000001"})
				}, ResponseMTI(netMTI), 778},
			}
			for name, cs := range cases {
				t.Run(name, func(t *testing.T) {
					got := make(chan error, 1)
					addr := hostScript(t, d, func(nc net.Conn, r *bufio.Reader, fr *Framer) {
						m, err := fr.ReadMessage(r)
						if err != nil {
							return
						}
						resp, err := cs.ask(nc, r, fr)
						if err == nil && (resp.MTI != cs.mti || resp.STAN != cs.stan || resp.ResponseCode != "12") {
							err = fmt.Errorf("answer %+v, want %s, STAN %d, 12", resp, cs.mti, cs.stan)
						}
						got <- err
						req, _ := d.DecodeRequest(m)
						a, _ := d.EncodeResponse(req, Response{ResponseCode: "00"})
						_ = fr.WriteMessage(nc, a)
						for {
							if _, err := fr.ReadMessage(r); err != nil {
								return
							}
						}
					})
					c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001"})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if err := c.SignOn(context.Background(), 1); err != nil {
						t.Fatalf("sign-on in flight: %v", err)
					}
					if err := <-got; err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// fuzzAnswer: whatever request the host sends, the terminal's answer (if
// any) packs, is the request's response MTI with its STAN, and says "00"
// only to an echo test.
func fuzzAnswer(f *testing.F, d *Dialect) {
	for _, k := range []Kind{KindEcho, KindSignOn, KindPurchase} {
		r := purchaseRequest(3, make([]byte, 12))
		r.Kind = k
		if m, err := d.EncodeRequest(r); err == nil {
			raw, _ := m.Pack()
			f.Add(raw)
		}
	}
	c, err := New(&Opts{Dialect: d.Name, TerminalID: "T0000001"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := d.Decode(raw)
		if err != nil {
			return
		}
		a := c.answer(m)
		if a == nil {
			return
		}
		if _, err := a.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
		mti, _ := m.GetMTI()
		amti, _ := a.GetMTI()
		stan, _ := m.GetString(DESTAN)
		astan, _ := a.GetString(DESTAN)
		if amti != ResponseMTI(mti) || astan != stan {
			t.Fatalf("answer %s STAN %q to %s STAN %q", amti, astan, mti, stan)
		}
		if rc, _ := a.GetString(DEResponseCode); rc == "00" {
			if req, err := d.DecodeRequest(m); err != nil || req.Kind != KindEcho {
				t.Fatalf("%s answered 00", mti)
			}
		}
	})
}

func FuzzAnswerASCII87(f *testing.F) { fuzzAnswer(f, ASCII87) }
func FuzzAnswerCUP(f *testing.F)     { fuzzAnswer(f, CUP) }
