package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds returns a process's user+system CPU seconds so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read process stat: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime (fields 14 and 15) from a
// /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse process stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("parse process stat: %d fields after the name", len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse process stat: utime %q stime %q", f[11], f[12])
	}
	return float64(u+s) / clockTicks, nil
}

// diskUsage sums allocated bytes (as du does) and apparent sizes of the
// regular files under dir, in total and per directory two levels deep.
func diskUsage(dir string) (alloc, apparent int64, byTop map[string]int64, err error) {
	byTop = map[string]int64{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) { // removed by a merge while walking
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		a := fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			a = st.Blocks * 512
		}
		alloc += a
		apparent += fi.Size()
		rel, _ := filepath.Rel(dir, p)
		byTop[topDirs(filepath.ToSlash(rel), 2)] += a
		return nil
	})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("walk data dir: %w", err)
	}
	return alloc, apparent, byTop, nil
}

// topDirs returns the first n directory components of a slash-separated
// relative file path ("." for a file directly in the root).
func topDirs(rel string, n int) string {
	parts := strings.Split(rel, "/")
	parts = parts[:len(parts)-1] // drop the file name
	if len(parts) == 0 {
		return "."
	}
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, "/")
}
