//go:build !nocv

package sim

// haveCamera: this build has OpenCV, so the sim board has a camera.
const haveCamera = true
