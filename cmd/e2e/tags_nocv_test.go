//go:build nocv

package e2e

func init() { buildTags = "nocv" }
