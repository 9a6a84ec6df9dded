package emv

// Config is the kernel's parameters: terminal data, AIDs and CA public
// keys (see LoadParams).
type Config struct{}

func (c Config) clone() *Config { return &c }

// LoadParams reads a parameter file.
func LoadParams(data []byte) (Config, error) { return Config{}, ErrParams }

type txnState struct{ outcome Outcome }
