"""Signal intake: providers push early signals of payment arrears."""
