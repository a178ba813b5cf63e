// Package mlog is the lab's stand-in for monis.app/mlog: the few functions the upstream driver and
// the upstream e2e mock provider call, written from how they call them, on top of klog. It only has
// to give those programs their flags' logging behaviour; it is not a copy of the real package.
package mlog

import (
	"context"
	"fmt"
	"os"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// LogFormat selects how klog writes its lines.
type LogFormat string

const (
	// FormatText is klog's own text format.
	FormatText LogFormat = "text"
	// FormatJSON writes one JSON object per line.
	FormatJSON LogFormat = "json"
)

// Setup prepares logging and returns the function that flushes it, for a defer in main.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally checks the level and format a program was started with
// and applies the format to every klog call of the process.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("log level %d is negative", level)
	}
	switch format {
	case FormatText:
		return nil
	case FormatJSON:
		sink := funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) }, funcr.Options{
			LogTimestamp: true,
			Verbosity:    int(level),
		})
		klog.SetLogger(sink)
		return nil
	default:
		return fmt.Errorf("log format %q is neither %q nor %q", format, FormatText, FormatJSON)
	}
}

// Error logs an error with a message and optional key/value pairs.
func Error(msg string, err error, keysAndValues ...interface{}) {
	klog.ErrorSDepth(1, err, msg, keysAndValues...)
}

// Fatal logs the error that ends the program, flushes the log and exits with status 1.
func Fatal(err error, keysAndValues ...interface{}) {
	klog.ErrorSDepth(1, err, "fatal error", keysAndValues...)
	klog.FlushAndExit(klog.ExitFlushTimeout, 1)
}
