// placeholder: tests land with the data layer
