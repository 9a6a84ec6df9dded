package wallet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"posd/terminal/durable"
	tw "posd/terminal/wallet"
)

// stateVersion is the layout of the state file.
const stateVersion = 1

// maxState bounds the state file Open reads.
const maxState = 256 << 20

// savedState is the state file: the orders, the payment codes that made
// one (their SHA-256 in hex, never the code) and the last platform
// transaction number.
type savedState struct {
	Version int                   `json:"version"`
	Seq     int                   `json:"seq"`
	Orders  map[string]savedOrder `json:"orders"` // terminal id "|" order id
	Used    map[string]string     `json:"used"`   // hex SHA-256 of a code → the order it made
}

type savedOrder struct {
	Kind     string      `json:"kind,omitempty"`
	Platform tw.Platform `json:"platform"`
	Amount   int64       `json:"amount,omitempty"`
	Currency string      `json:"currency,omitempty"`
	Charged  int64       `json:"charged,omitempty"` // when not the amount (magic 66)
	// ChargedCurrency: when not the currency (magic 67).
	ChargedCurrency string           `json:"charged_currency,omitempty"`
	Status          tw.Status        `json:"status"`
	TxnID           string           `json:"txn_id,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	Queries         int              `json:"queries,omitempty"`
	Paid            bool             `json:"paid,omitempty"`
	Refunded        int64            `json:"refunded,omitempty"`
	Refunds         map[string]int64 `json:"refunds,omitempty"`
}

// Open returns a simulator that keeps its orders in o.StateFile, as the
// real platforms keep theirs: it reads the file when it exists (a new
// platform when it does not) and rewrites it durably
// (terminal/durable: a temporary file synced, renamed, the directory
// synced) before answering any call that changed an order. A file that
// does not read is an error: starting empty would lose the orders.
func Open(o Opts) (*Sim, error) {
	if o.StateFile == "" {
		return nil, errors.New("wallet sim: Open without a state file")
	}
	path := o.StateFile
	s := New(o)
	s.o.StateFile = path
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wallet sim: state: %w", err)
	}
	if len(b) > maxState {
		return nil, fmt.Errorf("wallet sim: state file of %d bytes", len(b))
	}
	if err := s.load(b); err != nil {
		return nil, fmt.Errorf("wallet sim: state %s: %w", path, err)
	}
	return s, nil
}

// load reads a state file's content into s (new, nothing served yet).
func (s *Sim) load(b []byte) error {
	var st savedState
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&st); err != nil || d.More() {
		return errors.New("not a state file")
	}
	if st.Version != stateVersion {
		return fmt.Errorf("layout version %d, not %d", st.Version, stateVersion)
	}
	if st.Seq < 0 {
		return errors.New("negative transaction number")
	}
	for key, so := range st.Orders {
		if err := so.check(key); err != nil {
			return err
		}
		// The refund ids' index (a file of a simulator that let a
		// refund id name refunds of two orders keeps either).
		tid, _, _ := strings.Cut(key, "|")
		for id := range so.Refunds {
			s.refundIDs[tid+"|"+id] = key
		}
	}
	for h, key := range st.Used {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 || !validKey(key) {
			return errors.New("a used code entry is not valid")
		}
		var k [32]byte
		copy(k[:], raw)
		s.used[k] = key
	}
	for key, so := range st.Orders {
		charged := so.Charged
		if charged == 0 {
			charged = so.Amount
		}
		s.orders[key] = &order{kind: so.Kind, platform: so.Platform, amount: so.Amount, currency: so.Currency, charged: charged,
			chargedCurrency: so.ChargedCurrency,
			status:          so.Status, txnID: so.TxnID, reason: so.Reason, queries: so.Queries, paid: so.Paid,
			refunded: so.Refunded, refunds: so.Refunds}
	}
	s.seq = st.Seq
	return nil
}

// validKey reports whether key is a terminal id "|" order id.
func validKey(key string) bool {
	tid, oid, ok := strings.Cut(key, "|")
	return ok && tw.ValidID(tid) && tw.ValidID(oid)
}

// check tells what is wrong with the saved order of key, without
// quoting it.
func (so savedOrder) check(key string) error {
	switch {
	case !validKey(key):
		return errors.New("an order key is not a terminal id and an order id")
	case so.Kind != "" && so.Kind != kindPay && so.Kind != kindPrecreate:
		return errors.New("an order of an unknown kind")
	case !so.Platform.Valid():
		return errors.New("an order of an unknown platform")
	case !so.Status.Valid():
		return errors.New("an order of an unknown status")
	case so.Amount < 0 || so.Refunded < 0 || so.Refunded > max(so.Amount, so.Charged) || so.Queries < 0 || so.Charged < 0:
		return errors.New("an order's amounts are not valid")
	case so.Currency != "" && !tw.ValidCurrency(so.Currency) || so.ChargedCurrency != "" && !tw.ValidCurrency(so.ChargedCurrency):
		return errors.New("an order's currency is not valid")
	case len(so.TxnID) > 64 || len(so.Reason) > 256:
		return errors.New("an order's fields are too long")
	}
	for id, amt := range so.Refunds {
		if !tw.ValidID(id) || amt <= 0 {
			return errors.New("an order's refund is not valid")
		}
	}
	return nil
}

// save writes the state file when something changed since it was last
// written; s.mu is held. Without a state file it does nothing.
func (s *Sim) save() error {
	if s.o.StateFile == "" || !s.dirty {
		return nil
	}
	st := savedState{Version: stateVersion, Seq: s.seq, Orders: make(map[string]savedOrder, len(s.orders)),
		Used: make(map[string]string, len(s.used))}
	for key, o := range s.orders {
		charged := o.charged
		if charged == o.amount {
			charged = 0
		}
		st.Orders[key] = savedOrder{Kind: o.kind, Platform: o.platform, Amount: o.amount, Currency: o.currency, Charged: charged,
			ChargedCurrency: o.chargedCurrency,
			Status:          o.status, TxnID: o.txnID, Reason: o.reason, Queries: o.queries, Paid: o.paid,
			Refunded: o.refunded, Refunds: o.refunds}
	}
	for h, key := range s.used {
		st.Used[hex.EncodeToString(h[:])] = key
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(s.o.StateFile, b, 0o600); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// notSaved is the answer to a call whose change could not be saved: a
// system error (the change stands in memory; a query tells it, a
// restart may lose it, as a platform's failed commit would).
func (s *Sim) notSaved(orderID string, err error) (tw.Response, int, bool) {
	s.log.Warn("wallet sim: orders not saved", "err", err)
	return tw.Response{OrderID: orderID, Code: tw.CodeSystemError, Reason: "orders not saved"}, http.StatusInternalServerError, false
}
