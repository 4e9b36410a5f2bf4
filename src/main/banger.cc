// banger: the CLI. Everything lives in src/cli.
#include "cli/app.h"

int main(int argc, char** argv) { return banger::RunCli(argc, argv); }
