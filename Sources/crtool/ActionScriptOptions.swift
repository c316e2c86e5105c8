import ArgumentParser
import Checkpoint

/// --action-script, which dump, pre-dump and restore take (CRIU's name and
/// points, so scripts written for CRIU run unchanged).
struct ActionScriptOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Shell code to run (with /bin/sh -c) at each point of the dump (pre-dump, post-dump) or restore (pre-restore, setup-namespaces when the tree had namespaces of its own, post-restore, pre-resume, post-resume), told which in CRTOOLS_SCRIPT_ACTION, with CRTOOLS_IMAGE_DIR and CRTOOLS_INIT_PID set. A script that fails stops the dump or restore, which lets the tree go as it was or kills what it made; after the processes run (post-resume) it is a warning. Repeatable: run in order.", valueName: "code"))
    var actionScript: [String] = []

    func scripts(imagesDirectory directory: String) -> ActionScripts {
        ActionScripts(actionScript, imageDirectory: directory)
    }
}
