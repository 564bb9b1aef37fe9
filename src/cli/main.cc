#include "cli/cli.h"

int main(int argc, char** argv) { return learnwire::cli::Run(argc, argv, {}); }
