"""The one exception type for faults in the user's data or configuration."""


class InputError(Exception):
    """A fault in an input file or setting; the message names the file and the fault.

    Scripts print these as one readable line (no traceback): the user has to fix data,
    not code.
    """

    def __init__(self, source, fault):
        self.source = str(source)
        self.fault = fault
        super().__init__(f"{self.source}: {fault}")
