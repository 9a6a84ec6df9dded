package ota

import "golang.org/x/sys/unix"

// statfsFree is the bytes free for an unprivileged user on the file
// system of dir.
func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
