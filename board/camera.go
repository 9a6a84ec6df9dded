package board

import (
	"context"
	"fmt"

	"posd/drivers/camera"
)

// AddCamera opens the camera (a V4L2 index or path, a video file or an
// image sequence) and records it.
func (b *Board) AddCamera(src string, opts *camera.Opts) {
	st := Status{Name: "camera", Driver: "camera", Where: src}
	d, err := camera.New(src, opts)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.Camera = d
	info := d.Info()
	st.OK, st.Detail = true, fmt.Sprintf("%dx%d @ %.1f fps (%s)", info.Width, info.Height, info.FPS, info.Kind)
	b.Add(st, func(ctx context.Context) (string, error) {
		r, err := d.SelfTest(ctx, 5)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%dx%d @ %.1f fps measured over %d frames (%s)", r.Width, r.Height, r.FPS, r.Frames, r.Info.Kind), nil
	}, func() error {
		d.Halt()
		return nil
	})
}
