// A local stand-in for monis.app/mlog, which the Go module proxy this lab reaches refuses. The
// upstream driver, its e2e mock provider and (through the driver's module) the upstream AWS provider
// import it; the peer builds point at this folder with a replace directive (e2e/peer/build.sh).
module monis.app/mlog

go 1.22

require (
	github.com/go-logr/logr v1.4.1
	k8s.io/klog/v2 v2.120.1
)
