package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
)

// receipt shows a transaction's slip as the paper would (posctl receipt
// ID) or prints it again (posctl receipt print ID).
func (c *cli) receipt(args []string) (int, error) {
	if len(args) > 0 && args[0] == "print" {
		fs := flag.NewFlagSet("receipt print", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cp := fs.String("copy", "cardholder", "")
		if len(args) < 2 {
			return 1, usageErr("receipt")
		}
		id := args[1]
		if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
			return 1, usageErr("receipt")
		}
		return c.show("POST", "/v1/txns/"+url.PathEscape(id)+"/print", map[string]string{"copy": *cp})
	}
	fs := flag.NewFlagSet("receipt", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cp := fs.String("copy", "cardholder", "")
	cols := fs.Int("columns", 0, "")
	asJSON := fs.Bool("json", false, "")
	if len(args) < 1 {
		return 1, usageErr("receipt")
	}
	id := args[0]
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return 1, usageErr("receipt")
	}
	q := url.Values{"copy": {*cp}}
	if *cols != 0 {
		q.Set("columns", fmt.Sprint(*cols))
	}
	path := "/v1/txns/" + url.PathEscape(id) + "/receipt?" + q.Encode()
	if *asJSON {
		return c.show("GET", path, nil)
	}
	var v struct {
		Text string `json:"text"`
	}
	if _, err := c.call("GET", path, nil, &v); err != nil {
		return 1, err
	}
	_, err := io.WriteString(c.stdout, v.Text)
	return 0, err
}
