// The file-copy subcommands of the guest agent (docs/adr/0022-vm-cp-wire-format.md),
// run by the daemon through ordinary execs:
//
//   banger-agent cp-out [--follow-links] PATH   PATH as a pax tar on stdout;
//                                               last stderr line
//                                               `banger-cp ok sha256=HEX bytes=N`
//   banger-agent cp-in [--chown UID:GID] DEST   a framed tar on stdin
//                                               ([u32 BE len][bytes]... [u32 0][sha256])
//                                               extracted under the directory DEST,
//                                               committed only once all of it is verified
//   banger-agent stat PATH                      one JSON object (lstat)
//   banger-agent ls PATH                        a directory's entries as JSON
//
// Failure: one stderr line `banger-cp error=<code> <message>`, exit 1;
// usage errors exit 2.
#pragma once

namespace banger::agent::cp {

// argv[0] is the subcommand's name.
int RunCpOut(int argc, char** argv);
int RunCpIn(int argc, char** argv);
int RunStat(int argc, char** argv);
int RunLs(int argc, char** argv);

}  // namespace banger::agent::cp
