"""The broker's hold on the register of processing: stored versions, the active one."""
