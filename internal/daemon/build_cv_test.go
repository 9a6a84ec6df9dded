//go:build !nocv

package daemon

// cvBuild: this test binary has OpenCV (the sim board has its camera).
const cvBuild = true
