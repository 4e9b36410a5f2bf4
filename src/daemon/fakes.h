// All fakes of the OS wrappers the daemon's use cases run over, for unit
// tests of daemon/ and api/ (link banger_daemon_fakes). Each fake lives in a
// test-only library of the folder that owns its interface:
// base/testing (FakeProcs), storage/testing (FakeDisks, FakeDeviceMapper),
// vmm/testing (FakeBackend), net/testing (FakeNetOps).
#pragma once

#include "base/testing/fake_process_ops.h"
#include "net/testing/fake_net_ops.h"
#include "storage/testing/fake_disk_ops.h"
#include "vmm/testing/fake_vmm_backend.h"
