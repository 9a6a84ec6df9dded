package txn

import "errors"

var (
	// ErrBusy: a sale is already in progress; the terminal has one set of
	// readers and one customer at a time.
	ErrBusy = errors.New("txn: a sale is already in progress")
	// ErrAmount: the amount is not positive or over the terminal's limit.
	ErrAmount = errors.New("txn: invalid amount")
	// ErrCurrency: the currency is not one the terminal accepts.
	ErrCurrency = errors.New("txn: unsupported currency")
	// ErrNoCard: no card was presented before the timeout or cancel.
	ErrNoCard = errors.New("txn: no card presented")
	// ErrCardRead: the card could not be read (damaged stripe, bad data).
	ErrCardRead = errors.New("txn: card read error")
	// ErrCardExpired: the card's expiry date has passed.
	ErrCardExpired = errors.New("txn: card expired")
	// ErrKeys: no transaction key could be produced (not provisioned,
	// exhausted): the terminal must be serviced.
	ErrKeys = errors.New("txn: transaction key unavailable")
	// ErrHalted: the engine is shutting down.
	ErrHalted = errors.New("txn: engine halted")
	// ErrShutdown: the sale ended because the terminal was shutting down
	// while it waited for a card.
	ErrShutdown = errors.New("txn: sale ended by shutdown")
)
